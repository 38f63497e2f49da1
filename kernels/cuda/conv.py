"""The GPU convolution forward pass: the CUDA im2col, then cuBLAS's product, in blocks of up to
1 GB of columns (``kernels/blocked_conv.py``)."""
from __future__ import annotations

from ..blocked_conv import blocked_conv2d_forward
from .common import cupy
from .windows import im2col

BLOCK_BYTES = 1 << 30


def conv2d_forward(x, w, b, stride, padding, dilation, groups, keep_cols=True):
    """x (N, C, H, W), w (F, C/groups, kh, kw), b (F,) or None -> (y (N, F, OH, OW), cols or None)."""
    return blocked_conv2d_forward(cupy, im2col, BLOCK_BYTES, x, w, b, stride, padding, dilation,
                                  groups, keep_cols)
