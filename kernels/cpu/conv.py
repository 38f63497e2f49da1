"""The CPU convolution forward pass: Numba's im2col a cache-sized block of images at a time,
then OpenBLAS's product (``kernels/blocked_conv.py``)."""
from __future__ import annotations

import numpy as np

from ..blocked_conv import blocked_conv2d_forward
from .windows import im2col

# A 4 MB block of columns is still in the L2/L3 cache when the product reads it.
BLOCK_BYTES = 4 << 20


def conv2d_forward(x, w, b, stride, padding, dilation, groups, keep_cols=True):
    """x (N, C, H, W), w (F, C/groups, kh, kw), b (F,) or None -> (y (N, F, OH, OW), cols or None)."""
    return blocked_conv2d_forward(np, im2col, BLOCK_BYTES, x, w, b, stride, padding, dilation,
                                  groups, keep_cols)
