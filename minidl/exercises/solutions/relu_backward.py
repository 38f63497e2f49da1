"""Reference solution of lessons/exercises/relu_backward.py."""


def relu_backward(dy, y):
    return dy * (y > 0)
