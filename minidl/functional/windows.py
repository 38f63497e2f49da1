"""Sliding windows as arrays: the plain reference for convolution and pooling.

Convolution and pooling both look at every kh x kw window of an (N, C, H, W) image.
``im2col`` copies each window into a column, so that a convolution becomes one matrix product
(CS231n's trick); ``col2im`` is its adjoint and sums the columns back into the image, which is
exactly the backward pass of im2col. Max-pooling keeps, for every window, the flat index of its
maximum, so the backward pass can route each gradient to the one input that won.

These functions take and return raw arrays (NumPy or CuPy). They loop over the kh*kw kernel
offsets only, never over images or pixels. Fast versions live in ``minidl.kernels``; they must
return exactly what these return.
"""
from __future__ import annotations

from ..backend import get_array_module
from ..kernels import out_array


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """The lecture's W_out = (W - F + 2P) / S + 1, with a dilated kernel F = d(k - 1) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _window_slice(offset: int, stride: int, count: int) -> slice:
    """Rows offset, offset + stride, ... (count of them) of the padded image."""
    return slice(offset, offset + stride * (count - 1) + 1, stride)


def im2col(x, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1), out=None):
    """(N, C, H, W) -> columns (C*kh*kw, N*OH*OW), one column per window of the whole batch.

    Row r = (c*kh + i)*kw + j holds input channel c at kernel offset (i, j); column n*OH*OW + p
    is image n's window at output position p. So ``W.reshape(F, C*kh*kw) @ cols`` convolves the
    whole batch in ONE matrix product, giving (F, N*OH*OW). (Caffe's layout; one big product
    keeps BLAS and cuBLAS busier than N small ones.) ``out``: an array to write the columns into
    (reused block by block, it spares a fresh allocation each time).
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    oh, ow = output_size(h, kh, sh, ph, dh), output_size(w, kw, sw, pw, dw)
    xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    xpad = xpad.transpose(1, 0, 2, 3)                 # (C, N, H, W): channel first, like the rows
    out = out_array(out, (c * kh * kw, n * oh * ow), x.dtype, "im2col", xp)
    cols = out.reshape(c, kh, kw, n, oh, ow)           # a view: writing it fills out
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = xpad[:, :, _window_slice(i * dh, sh, oh), _window_slice(j * dw, sw, ow)]
    return out


def col2im(cols, x_shape, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """Columns (C*kh*kw, N*OH*OW) -> image (N, C, H, W), summing where windows overlap.

    This is the adjoint of im2col: <im2col(x), cols> == <x, col2im(cols)> for all x and cols.
    """
    xp = get_array_module(cols)
    n, c, h, w = x_shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    oh, ow = output_size(h, kh, sh, ph, dh), output_size(w, kw, sw, pw, dw)
    cols = cols.reshape(c, kh, kw, n, oh, ow)
    dx = xp.zeros((c, n, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[:, :, _window_slice(i * dh, sh, oh), _window_slice(j * dw, sw, ow)] += cols[:, i, j]
    return xp.ascontiguousarray(dx.transpose(1, 0, 2, 3)[:, :, ph:ph + h, pw:pw + w])


def max_pool2d_forward(x, kh, kw, stride, padding):
    """(N, C, H, W) -> (out (N, C, OH, OW), argmax (N, C, OH, OW) int64).

    ``argmax`` is the flat index (row * W + col) into the unpadded H x W plane of the input
    that won its window; the first maximum in row-major window order wins a tie. Padding
    counts as -inf, so it never wins (padding <= kernel // 2 keeps a real value in each window).
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    (sh, sw), (ph, pw) = stride, padding
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    xpad = x
    if ph or pw:
        xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-xp.inf)
    windows = xp.empty((kh * kw, n, c, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            windows[i * kw + j] = xpad[:, :, _window_slice(i, sh, oh), _window_slice(j, sw, ow)]
    k = windows.argmax(axis=0)                      # which kernel offset won, (N, C, OH, OW)
    out = xp.take_along_axis(windows, k[None], axis=0)[0]
    rows = xp.arange(oh).reshape(oh, 1) * sh - ph + k // kw
    cols = xp.arange(ow).reshape(1, ow) * sw - pw + k % kw
    return out, (rows * w + cols).astype(xp.int64)


def max_pool2d_backward(dout, argmax, x_shape):
    """Route each output gradient to the input that won its window: dx[argmax] += dout."""
    xp = get_array_module(dout)
    n, c, h, w = x_shape
    plane = (xp.arange(n * c, dtype=xp.int64) * (h * w)).reshape(n, c, 1, 1)
    dx = xp.bincount((argmax + plane).ravel(), weights=dout.ravel(), minlength=n * c * h * w)
    return dx.astype(dout.dtype, copy=False).reshape(n, c, h, w)
