"""Exercise sgd_momentum_step (lessons 3 and 11): one step of SGD with momentum.

PyTorch's rule (minidl.optim.SGD), for a parameter W with gradient dL/dW:

    g        = dL/dW + weight_decay * W          (L2 weight decay)
    velocity = g                                 on the first step (velocity is None)
    velocity = momentum * velocity + g           on every later step
    W        = W - lr * velocity

Return new arrays (or update in place and return them).
Grade it with `python -m minidl exercise check sgd_momentum_step`.
"""
import numpy as np


def sgd_momentum_step(param, grad, velocity, lr, momentum, weight_decay=0.0):
    """param, grad (any shape, the same), velocity (same shape, or None on the first step) ->
    (new param, new velocity)."""
    raise NotImplementedError
