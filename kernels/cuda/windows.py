"""CUDA im2col, col2im and max-pooling (``windows.cu`` beside this file), through CuPy.

Same signatures and results as the references in ``minidl.functional.conv`` and ``.pool``.
"""
from __future__ import annotations

from ...geometry import out_array, window_geometry
from ..checks import col2im_geometry, pool_backward_argmax
from .common import cupy, float_array, ints, launch


def im2col(x, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1), out=None):
    """(N, C, H, W) -> columns (C*kh*kw, N*OH*OW); the layout of the reference im2col."""
    x = float_array(x, "x", "im2col", 4)
    n, c, h, w = x.shape
    kh, kw, (sh, sw), (ph, pw), (dh, dw), oh, ow = window_geometry(
        "im2col", (h, w), kh, kw, stride, padding, dilation)
    cols = out_array(out, (c * kh * kw, n * oh * ow), x.dtype, "im2col", cupy)
    launch("im2col", x.dtype, cols.size, max(cols.size, x.size),
           (x, cols, cols.size, *ints(n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)))
    return cols


def col2im(cols, x_shape, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """Columns (C*kh*kw, N*OH*OW) -> image (N, C, H, W), summing where windows overlap."""
    cols = float_array(cols, "cols", "col2im", 2)
    (n, c, h, w), (kh, kw, (sh, sw), (ph, pw), (dh, dw), oh, ow) = col2im_geometry(
        cols, x_shape, kh, kw, stride, padding, dilation)
    dx = cupy.empty((n, c, h, w), dtype=cols.dtype)
    launch("col2im", cols.dtype, dx.size, max(cols.size, dx.size),
           (cols, dx, dx.size, *ints(n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)))
    return dx


def max_pool2d_forward(x, kh, kw, stride, padding):
    """(N, C, H, W) -> (out (N, C, OH, OW), argmax (N, C, OH, OW) int64 flat index into H*W)."""
    x = float_array(x, "x", "max_pool2d_forward", 4)
    n, c, h, w = x.shape
    kh, kw, (sh, sw), (ph, pw), _, oh, ow = window_geometry(
        "max_pool2d_forward", (h, w), kh, kw, stride, padding, (1, 1))
    out = cupy.empty((n, c, oh, ow), dtype=x.dtype)
    argmax = cupy.empty((n, c, oh, ow), dtype=cupy.int64)
    launch("max_pool2d_forward", x.dtype, out.size, x.size,
           (x, out, argmax, out.size, *ints(h, w, kh, kw, sh, sw, ph, pw, oh, ow)))
    return out, argmax


def max_pool2d_backward(dout, argmax, x_shape):
    """dout, argmax (N, C, OH, OW) -> dx (N, C, H, W) with dx[argmax] += dout.

    Unlike the CPU kernel this does not check argmax (that would wait for the GPU); entries
    outside the H x W plane are skipped.
    """
    dout = float_array(dout, "dout", "max_pool2d_backward", 4)
    (n, c, h, w), argmax = pool_backward_argmax(dout, argmax, x_shape, cupy)
    dx = cupy.zeros((n, c, h, w), dtype=dout.dtype)
    oh, ow = dout.shape[2:]
    launch("max_pool2d_backward", dout.dtype, dout.size, max(dout.size, dx.size),
           (dout, argmax, dx, dout.size, h * w, oh * ow))
    return dx
