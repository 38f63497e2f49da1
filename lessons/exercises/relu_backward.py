"""Exercise relu_backward (lessons 4 and 6): ReLU's backward pass.

    y = ReLU(x) = max(0, x)        ReLU'(x) = 1 if x > 0, else 0

The forward pass keeps its output y (y > 0 exactly where x > 0). dL/dx = dL/dy * ReLU'(x).
`check` runs your function in place of minidl's relu_backward inside F.relu and the lab CNN.
Grade it with `python -m minidl exercise check relu_backward`.
"""
import numpy as np


def relu_backward(dy, y):
    """dy = dL/dy and y = max(0, x), both of any shape -> dL/dx, same shape and dtype as dy."""
    raise NotImplementedError
