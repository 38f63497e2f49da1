"""Reference solution of lessons/exercises/sigmoid_backward.py."""


def sigmoid_backward(dy, y):
    return dy * y * (1 - y)
