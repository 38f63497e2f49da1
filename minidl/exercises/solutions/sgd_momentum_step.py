"""Reference solution of lessons/exercises/sgd_momentum_step.py."""


def sgd_momentum_step(param, grad, velocity, lr, momentum, weight_decay=0.0):
    g = grad + weight_decay * param
    velocity = g if velocity is None else momentum * velocity + g
    return param - lr * velocity, velocity
