"""The CPU convolution: Numba's im2col and col2im a cache-sized block of images at a time, with
OpenBLAS's products between them (``kernels/blocked_conv.py``)."""
from __future__ import annotations

import numpy as np

from ..blocked_conv import blocked_conv2d_backward, blocked_conv2d_forward
from .windows import col2im, im2col

# A 4 MB block of columns is still in the L2/L3 cache when the product reads it.
BLOCK_BYTES = 4 << 20


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """x (N, C, H, W), w (F, C/groups, kh, kw), b (F,) or None -> y (N, F, OH, OW)."""
    return blocked_conv2d_forward(np, im2col, BLOCK_BYTES, x, w, b, stride, padding, dilation, groups)


def conv2d_backward(g, x, w, stride, padding, dilation, groups, need_dx=True, need_dw=True):
    """dL/dy (N, F, OH, OW) -> (dL/dx or None, dL/dW or None)."""
    return blocked_conv2d_backward(np, im2col, col2im, BLOCK_BYTES, g, x, w, stride, padding,
                                   dilation, groups, need_dx, need_dw)
