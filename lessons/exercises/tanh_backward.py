"""Exercise tanh_backward (lesson 4): tanh's backward pass.

    y = tanh(x)        tanh'(x) = 1 - tanh(x)^2

The forward pass keeps its output y. By the chain rule dL/dx = dL/dy * tanh'(x), element by element.
Grade it with `python -m minidl exercise check tanh_backward`.
"""
import numpy as np


def tanh_backward(dy, y):
    """dy = dL/dy and y = tanh(x), both of any shape -> dL/dx, same shape and dtype as dy."""
    raise NotImplementedError
