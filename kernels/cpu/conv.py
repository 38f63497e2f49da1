"""The CPU convolution: Numba's im2col and col2im a cache-sized block of images at a time, with
OpenBLAS's products between them (``kernels/blocked_conv.py``); depthwise layers (groups ==
channels) go to their own loops instead (``depthwise.py``), 1x1 layers straight to the products
(``kernels/pointwise_conv.py``)."""
from __future__ import annotations

import numpy as np

from ...geometry import window_geometry
from ..blocked_conv import blocked_conv2d_backward, blocked_conv2d_forward
from ..pointwise_conv import is_pointwise, pointwise_conv2d_backward, pointwise_conv2d_forward
from .common import float_array
from .depthwise import depthwise_backward, depthwise_forward
from .windows import col2im, im2col

# A 4 MB block of columns is still in the L2/L3 cache when the product reads it.
BLOCK_BYTES = 4 << 20


def _depthwise_geometry(fn, x, w, stride, padding, dilation, groups):
    """window_geometry for a depthwise layer (each channel its own filter), else None."""
    if groups == 1 or not groups == x.shape[1] == w.shape[0]:
        return None
    float_array(x, "x", fn, (4,))
    return window_geometry(fn, x.shape[2:], *w.shape[2:], stride, padding, dilation)


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """x (N, C, H, W), w (F, C/groups, kh, kw), b (F,) or None -> y (N, F, OH, OW)."""
    geometry = _depthwise_geometry("conv2d_forward", x, w, stride, padding, dilation, groups)
    if geometry is not None:
        return depthwise_forward(x, w, b, geometry)
    if is_pointwise(w, padding, groups):
        return pointwise_conv2d_forward(np, x, w, b, stride)
    return blocked_conv2d_forward(np, im2col, BLOCK_BYTES, x, w, b, stride, padding, dilation, groups)


def conv2d_backward(g, x, w, stride, padding, dilation, groups, need_dx=True, need_dw=True):
    """dL/dy (N, F, OH, OW) -> (dL/dx or None, dL/dW or None)."""
    geometry = _depthwise_geometry("conv2d_backward", x, w, stride, padding, dilation, groups)
    if geometry is not None:
        return depthwise_backward(g, x, w, geometry, need_dx, need_dw)
    if is_pointwise(w, padding, groups):
        return pointwise_conv2d_backward(np, g, x, w, stride, need_dx, need_dw)
    return blocked_conv2d_backward(np, im2col, col2im, BLOCK_BYTES, g, x, w, stride, padding,
                                   dilation, groups, need_dx, need_dw)
