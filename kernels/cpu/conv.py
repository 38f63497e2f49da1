"""The CPU convolution, the batch split into one share per thread (``threads.py``): im2col, the
products and col2im a cache-sized block of images at a time in one Numba loop per share
(``im2col_conv.py``; grouped layers, and machines where NumPy's BLAS cannot be called from
compiled code, take NumPy's products between Numba's im2col and col2im, ``kernels/blocked_conv.py``,
on minidl's worker threads). 3x3 stride-1 layers with 2 or more channels take Winograd's
F(2x2, 3x3), 16 products on transformed tiles with 2.25x fewer multiply-adds (``winograd.py``);
other stride-1 layers with small windows and 8 or more channels skip the columns: kh*kw
products of shifted windows of the padded input (``shifted_conv.py``); stride-1 layers on
one-channel images are summed directly (``direct_conv.py``);
depthwise layers (groups == channels) go to their own loops (``depthwise.py``), 1x1 layers
straight to the products (``kernels/pointwise_conv.py``). ``conv2d_batch_norm_eval`` is the
convolution with an evaluation-mode batch norm after it: on the Winograd path the output
transform normalises each output as it writes it."""
from __future__ import annotations

import functools

import numpy as np

from ...geometry import window_geometry
from ..blocked_conv import blocked_conv2d_backward, blocked_conv2d_forward
from ..pointwise_conv import is_pointwise, pointwise_conv2d_backward, pointwise_conv2d_forward
from . import blas, threads
from .common import float_array
from .depthwise import depthwise_backward, depthwise_forward
from .direct_conv import direct_conv2d_backward, direct_conv2d_forward
from .im2col_conv import im2col_conv2d_backward, im2col_conv2d_forward
from .norm import running_statistics
from .shifted_conv import shifted_conv2d_backward, shifted_conv2d_forward
from .winograd import (flipped_filters, transformed_filters, winograd_conv2d_filter_gradient,
                       winograd_conv2d_forward, winograd_conv2d_input_gradient)
from .windows import col2im, im2col

# A 4 MB block of columns is still in the L2/L3 cache when the product reads it.
BLOCK_BYTES = 4 << 20

# 3x3 stride-1 undilated layers with at least WINOGRAD_MIN_CHANNELS input channels take the
# Winograd products (winograd.py); with one channel im2col's single product is as fast.
WINOGRAD_MIN_CHANNELS = 2

# Other stride-1 layers with windows of at most SHIFTED_MAX_TAPS positions and at least
# SHIFTED_MIN_CHANNELS input channels take the shifted products (shifted_conv.py): with fewer
# channels or more positions (the lab's 5x5 layers), kh*kw products over C channels each lose
# to one product over C*kh*kw rows of columns.
SHIFTED_MIN_CHANNELS = 8
SHIFTED_MAX_TAPS = 9

# Undilated stride-1 layers on at most DIRECT_MAX_CHANNELS input channels (a grey first layer)
# are summed directly (direct_conv.py): im2col's product would have one row per window position.
DIRECT_MAX_CHANNELS = 1

_im2col_one_thread = functools.partial(im2col, one_thread=True)
_col2im_one_thread = functools.partial(col2im, one_thread=True)


def _depthwise_geometry(fn, x, w, stride, padding, dilation, groups):
    """window_geometry for a depthwise layer (each channel its own filter), else None."""
    if groups == 1 or not groups == x.shape[1] == w.shape[0]:
        return None
    float_array(x, "x", fn, (4,))
    return window_geometry(fn, x.shape[2:], *w.shape[2:], stride, padding, dilation)


def _direct_path(x, w, stride, padding, dilation, groups):
    """"direct", "winograd" or "shifted" where the layer reads the input directly, else None
    (im2col). One-channel images are summed directly (undilated); the other two need ``blas``'s
    binding: Winograd's F(2x2, 3x3) takes 3x3 windows padded by at most 2 (dL/dx is its
    correlation with the flipped filters at padding 2 - p); the shifted products take other
    small stride-1 windows."""
    if groups != 1 or tuple(stride) != (1, 1):
        return None
    if x.shape[1] <= DIRECT_MAX_CHANNELS and tuple(dilation) == (1, 1):
        return "direct"
    if blas.available():
        return None
    if (w.shape[2:] == (3, 3) and tuple(dilation) == (1, 1) and max(padding) <= 2
            and x.shape[1] >= WINOGRAD_MIN_CHANNELS):
        return "winograd"
    if x.shape[1] >= SHIFTED_MIN_CHANNELS and w.shape[2] * w.shape[3] <= SHIFTED_MAX_TAPS:
        return "shifted"
    return None


def _compiled_path(x, w, stride, padding, dilation, groups):
    """``_direct_path``'s answer, else "im2col" for a dense layer where ``blas``'s binding lets
    the columns' products run inside compiled code (im2col_conv.py), else None: NumPy's products
    (blocked_conv.py) on minidl's worker threads."""
    return _direct_path(x, w, stride, padding, dilation, groups) or (
        "im2col" if groups == 1 and not blas.available() else None)


def _matching(fn, x, w, g=None, out_hw=None):
    """x, w (and dL/dy) as C-contiguous arrays of one dtype, their shapes checked against each
    other: the shifted products read raw memory, so a mismatch must stop here."""
    x = float_array(x, "x", fn, (4,))
    w = float_array(w, "w", fn, (4,))
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"{fn}: w {w.shape} must have x's {x.shape[1]} channels in dimension 1")
    if g is None:
        return x, w.astype(x.dtype, copy=False)
    g = float_array(g, "g", fn, (4,))
    want = (x.shape[0], w.shape[0], *out_hw)
    if g.shape != want:
        raise ValueError(f"{fn}: dL/dy must have shape {want} for x {x.shape} and w {w.shape}, got {g.shape}")
    return x.astype(g.dtype, copy=False), w.astype(g.dtype, copy=False), g


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """x (N, C, H, W), w (F, C/groups, kh, kw), b (F,) or None -> y (N, F, OH, OW)."""
    geometry = _depthwise_geometry("conv2d_forward", x, w, stride, padding, dilation, groups)
    if geometry is not None:
        return depthwise_forward(x, w, b, geometry)
    if is_pointwise(w, padding, groups):
        return pointwise_conv2d_forward(np, x, w, b, stride)
    x = float_array(x, "x", "conv2d_forward", (4,))
    geometry = window_geometry("conv2d_forward", x.shape[2:], *w.shape[2:], stride, padding, dilation)
    (oh, ow), n = geometry[-2:], x.shape[0]
    y = np.empty((n, w.shape[0], oh, ow), dtype=x.dtype)
    path = _compiled_path(x, w, stride, padding, dilation, groups)
    if path is not None:
        x, w = _matching("conv2d_forward", x, w)
        if path == "direct":
            direct_conv2d_forward(x, w, padding, oh, ow, y)
        elif path == "winograd":
            _winograd_forward(x, w, padding, y)
        elif path == "im2col":
            im2col_conv2d_forward(x, w, geometry, y)
        else:
            threads.over_images(lambda i, j: shifted_conv2d_forward(x[i:j], w, padding, dilation, oh, ow, y[i:j]), n)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
        return y
    cols = _im2col_one_thread if threads.shares(n) > 1 else im2col    # one share: its rows shared
    threads.over_images(lambda i, j: blocked_conv2d_forward(
        np, cols, BLOCK_BYTES, x[i:j], w, b, stride, padding, dilation, groups, out=y[i:j]), n)
    return y


def _winograd_forward(x, w, padding, y, bn=None, residual=None, relu=False):
    """y (N, F, OH, OW) = the Winograd convolution of x by w; bn, residual and relu as in
    ``winograd_conv2d_forward``."""
    winograd_conv2d_forward(x, transformed_filters(w), padding, *y.shape[2:], y, bn, residual, relu)


def conv2d_batch_norm_eval(x, w, stride, padding, dilation, groups, gamma, beta, mean, var, eps,
                           relu=False, residual=None):
    """x (N, C, H, W), w (F, C/groups, kh, kw), the (F,) batch norm arrays -> batch norm with the
    running statistics of the convolution (no bias), plus residual (N, F, OH, OW) where given,
    then max(0, .) with relu: (N, F, OH, OW). Where the layer takes Winograd's products (and the
    residual has the output's shape and dtype), the output transform does all of it as it
    writes each output, the separate kernels' operations, so their bits; elsewhere
    NotImplemented: the reference's passes, one dispatched kernel after the other."""
    fn = "conv2d_batch_norm_eval"
    x = float_array(x, "x", fn, (4,))
    *_, oh, ow = window_geometry(fn, x.shape[2:], *w.shape[2:], stride, padding, dilation)
    shape = (x.shape[0], w.shape[0], oh, ow)
    if (_direct_path(x, w, stride, padding, dilation, groups) != "winograd" or residual is not None
            and not (isinstance(residual, np.ndarray) and residual.shape == shape and residual.dtype == x.dtype)):
        return NotImplemented
    x, w = _matching(fn, x, w)
    gamma, beta, mean, inv_std = running_statistics(fn, w.shape[0], x.dtype, gamma, beta, mean, var, eps)
    y = np.empty(shape, dtype=x.dtype)
    residual = None if residual is None else np.ascontiguousarray(residual)
    _winograd_forward(x, w, padding, y, (mean, inv_std, gamma, beta), residual, relu)
    return y


def conv2d_backward(g, x, w, stride, padding, dilation, groups, need_dx=True, need_dw=True):
    """dL/dy (N, F, OH, OW) -> (dL/dx or None, dL/dW or None)."""
    geometry = _depthwise_geometry("conv2d_backward", x, w, stride, padding, dilation, groups)
    if geometry is not None:
        return depthwise_backward(g, x, w, geometry, need_dx, need_dw)
    if is_pointwise(w, padding, groups):
        return pointwise_conv2d_backward(np, g, x, w, stride, need_dx, need_dw)
    n = x.shape[0]
    dx = np.empty(x.shape, dtype=g.dtype) if need_dx else None
    path = _compiled_path(x, w, stride, padding, dilation, groups)
    if path is not None:
        fn = "conv2d_backward"
        geometry = window_geometry(fn, x.shape[2:], *w.shape[2:], stride, padding, dilation)
        x, w, g = _matching(fn, x, w, g, geometry[-2:])
        if path == "direct":
            return direct_conv2d_backward(g, x, w, padding, need_dx, need_dw, dx)
        if path == "winograd":
            if need_dx:
                winograd_conv2d_input_gradient(g, flipped_filters(w), padding, dx)
            return dx, (winograd_conv2d_filter_gradient(g, x, padding) if need_dw else None)
        if path == "im2col":
            return im2col_conv2d_backward(g, x, w, geometry, need_dx, need_dw, dx)
        dws = threads.over_images(lambda i, j: shifted_conv2d_backward(            # "shifted"
            g[i:j], x[i:j], w, padding, dilation, need_dx, need_dw, dx[i:j] if need_dx else None)[1], n)
        return dx, (_summed(dws) if need_dw else None)
    cols, back = ((_im2col_one_thread, _col2im_one_thread) if threads.shares(n) > 1
                  else (im2col, col2im))                             # one share: rows, slabs shared
    dws = threads.over_images(lambda i, j: blocked_conv2d_backward(
        np, cols, back, BLOCK_BYTES, g[i:j], x[i:j], w, stride, padding, dilation, groups,
        need_dx, need_dw, dx_out=dx[i:j] if need_dx else None)[1], n)
    return dx, (_summed(dws) if need_dw else None)


def _summed(parts):
    """dL/dW sums over every share's images."""
    dw = parts[0]
    for part in parts[1:]:
        dw += part
    return dw
