"""Exercise sigmoid_backward (lesson 4): the sigmoid's backward pass.

    y = sigma(x) = 1 / (1 + e^-x)        sigma'(x) = sigma(x) (1 - sigma(x))

The forward pass keeps its output y, so the backward pass needs no exp at all. By the chain rule
dL/dx = dL/dy * sigma'(x), element by element.
Grade it with `python -m minidl exercise check sigmoid_backward`.
"""
import numpy as np


def sigmoid_backward(dy, y):
    """dy = dL/dy and y = sigma(x), both of any shape -> dL/dx, same shape and dtype as dy."""
    raise NotImplementedError
