"""Exercise max_pool2d_backward (lesson 5): max-pooling's backward pass.

Only the input that won a window influenced its output, with slope 1, so

    dx[n, c] = 0 everywhere, then dx[n, c].flat[argmax[n, c, oh, ow]] += dout[n, c, oh, ow]

ADD: with stride < kernel one input can win several windows (np.add.at or np.bincount add up
repeated indices; fancy-index assignment dx[idx] += v does NOT).
`check` runs your function in place of minidl's inside F.max_pool2d and the lab CNN.
Grade it with `python -m minidl exercise check max_pool2d_backward`.
"""
import numpy as np


def max_pool2d_backward(dout, argmax, x_shape):
    """dout (N, C, OH, OW), argmax (N, C, OH, OW) int64 flat indices into each H x W plane,
    x_shape (N, C, H, W) -> dx (N, C, H, W) of dout's dtype."""
    raise NotImplementedError
