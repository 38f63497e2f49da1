"""The GPU convolution: the CUDA im2col and col2im with cuBLAS's products between them, in blocks
of up to 1 GB of columns (``kernels/blocked_conv.py``); 1x1 layers go straight to the products
(``kernels/pointwise_conv.py``)."""
from __future__ import annotations

from ..blocked_conv import blocked_conv2d_backward, blocked_conv2d_forward
from ..pointwise_conv import is_pointwise, pointwise_conv2d_backward, pointwise_conv2d_forward
from .common import cupy
from .windows import col2im, im2col

BLOCK_BYTES = 1 << 30


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """x (N, C, H, W), w (F, C/groups, kh, kw), b (F,) or None -> y (N, F, OH, OW)."""
    if is_pointwise(w, padding, groups):
        return pointwise_conv2d_forward(cupy, x, w, b, stride)
    return blocked_conv2d_forward(cupy, im2col, BLOCK_BYTES, x, w, b, stride, padding, dilation, groups)


def conv2d_backward(g, x, w, stride, padding, dilation, groups, need_dx=True, need_dw=True):
    """dL/dy (N, F, OH, OW) -> (dL/dx or None, dL/dW or None)."""
    if is_pointwise(w, padding, groups):
        return pointwise_conv2d_backward(cupy, g, x, w, stride, need_dx, need_dw)
    return blocked_conv2d_backward(cupy, im2col, col2im, BLOCK_BYTES, g, x, w, stride, padding,
                                   dilation, groups, need_dx, need_dw)
