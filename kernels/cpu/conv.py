"""The CPU convolution: Numba's im2col and col2im a cache-sized block of images at a time, with
OpenBLAS's products between them (``kernels/blocked_conv.py``), the batch split over one worker
thread per core (``threads.py``); depthwise layers (groups == channels) go to their own loops
instead (``depthwise.py``), 1x1 layers straight to the products (``kernels/pointwise_conv.py``)."""
from __future__ import annotations

import functools

import numpy as np

from ...geometry import output_size, window_geometry
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
    args = (w, b, stride, padding, dilation, groups)
    if threads.shares(x.shape[0]) == 1:         # one image, or one thread: Numba's own threads
        return blocked_conv2d_forward(np, im2col, BLOCK_BYTES, x, *args)
    oh, ow = (output_size(x.shape[2 + d], w.shape[2 + d], stride[d], padding[d], dilation[d]) for d in (0, 1))
    y = np.empty((x.shape[0], w.shape[0], oh, ow), dtype=x.dtype)
    threads.over_images(lambda i, j: blocked_conv2d_forward(
        np, _im2col_one_thread, BLOCK_BYTES, x[i:j], *args, out=y[i:j]), x.shape[0])
    return y


def conv2d_backward(g, x, w, stride, padding, dilation, groups, need_dx=True, need_dw=True):
    """dL/dy (N, F, OH, OW) -> (dL/dx or None, dL/dW or None)."""
    geometry = _depthwise_geometry("conv2d_backward", x, w, stride, padding, dilation, groups)
    if geometry is not None:
        return depthwise_backward(g, x, w, geometry, need_dx, need_dw)
    if is_pointwise(w, padding, groups):
        return pointwise_conv2d_backward(np, g, x, w, stride, need_dx, need_dw)
    args = (stride, padding, dilation, groups, need_dx, need_dw)
    if threads.shares(x.shape[0]) == 1:
        return blocked_conv2d_backward(np, im2col, col2im, BLOCK_BYTES, g, x, w, *args)
    dx = np.empty(x.shape, dtype=g.dtype) if need_dx else None
    dws = threads.over_images(lambda i, j: blocked_conv2d_backward(
        np, _im2col_one_thread, _col2im_one_thread, BLOCK_BYTES, g[i:j], x[i:j], w, *args,
        dx_out=dx[i:j] if need_dx else None)[1], x.shape[0])
    if not need_dw:
        return dx, None
    dw = dws[0]
    for part in dws[1:]:                        # dL/dW sums over every image
        dw += part
    return dx, dw
