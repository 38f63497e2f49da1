"""Exercise dropout (lesson 7): inverted dropout, forward and backward.

In training each value is dropped (zeroed) with probability p; the survivors are scaled by
1/(1-p), so that E[y] = x and evaluation needs no rescaling:

    keep = rng.random(x.shape) >= p          mask = keep / (1 - p)          y = x * mask

and the backward pass lets the gradient through the same mask: dx = dy * mask. Draw from the
rng you are given (a np.random.Generator), never from np.random, and keep x's dtype.
Grade it with `python -m minidl exercise check dropout`.
"""
import numpy as np


def dropout_forward(x, p, rng):
    """x of any shape, 0 <= p < 1, rng a np.random.Generator -> (y like x, mask like x), every
    mask value 0 or 1/(1-p)."""
    raise NotImplementedError


def dropout_backward(dy, mask):
    """dy (dL/dy) and the forward pass's mask, same shape -> dL/dx."""
    raise NotImplementedError
