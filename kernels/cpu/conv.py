"""The CPU convolution: Numba's im2col and col2im a cache-sized block of images at a time, with
OpenBLAS's products between them (``kernels/blocked_conv.py``), the batch split over one worker
thread per core (``threads.py``); depthwise layers (groups == channels) go to their own loops
instead (``depthwise.py``), 1x1 layers straight to the products (``kernels/pointwise_conv.py``)."""
from __future__ import annotations

import functools

import numpy as np

from ...geometry import window_geometry
from ..blocked_conv import blocked_conv2d_backward, blocked_conv2d_forward
from ..pointwise_conv import is_pointwise, pointwise_conv2d_backward, pointwise_conv2d_forward
from . import threads
from .common import float_array
from .depthwise import depthwise_backward, depthwise_forward
from .windows import col2im, im2col

# A 4 MB block of columns is still in the L2/L3 cache when the product reads it.
BLOCK_BYTES = 4 << 20

_im2col_one_thread = functools.partial(im2col, one_thread=True)
_col2im_one_thread = functools.partial(col2im, one_thread=True)


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
    x = float_array(x, "x", "conv2d_forward", (4,))
    *_, oh, ow = window_geometry("conv2d_forward", x.shape[2:], *w.shape[2:], stride, padding, dilation)
    n = x.shape[0]
    cols = _im2col_one_thread if threads.shares(n) > 1 else im2col    # one share: Numba's threads
    y = np.empty((n, w.shape[0], oh, ow), dtype=x.dtype)
    threads.over_images(lambda i, j: blocked_conv2d_forward(
        np, cols, BLOCK_BYTES, x[i:j], w, b, stride, padding, dilation, groups, out=y[i:j]), n)
    return y


def conv2d_backward(g, x, w, stride, padding, dilation, groups, need_dx=True, need_dw=True):
    """dL/dy (N, F, OH, OW) -> (dL/dx or None, dL/dW or None)."""
    geometry = _depthwise_geometry("conv2d_backward", x, w, stride, padding, dilation, groups)
    if geometry is not None:
        return depthwise_backward(g, x, w, geometry, need_dx, need_dw)
    if is_pointwise(w, padding, groups):
        return pointwise_conv2d_backward(np, g, x, w, stride, need_dx, need_dw)
    n = x.shape[0]
    cols, back = ((_im2col_one_thread, _col2im_one_thread) if threads.shares(n) > 1
                  else (im2col, col2im))                             # one share: Numba's threads
    dx = np.empty(x.shape, dtype=g.dtype) if need_dx else None
    dws = threads.over_images(lambda i, j: blocked_conv2d_backward(
        np, cols, back, BLOCK_BYTES, g[i:j], x[i:j], w, stride, padding, dilation, groups,
        need_dx, need_dw, dx_out=dx[i:j] if need_dx else None)[1], n)
    if not need_dw:
        return dx, None
    dw = dws[0]
    for part in dws[1:]:                        # dL/dW sums over every share's images
        dw += part
    return dx, dw
