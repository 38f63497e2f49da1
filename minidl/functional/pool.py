"""Pooling: max, average, and global (adaptive) average.

Pooling summarises each kh x kw window of every channel by one number, which shrinks the map:
W_out = (W - F) / S + 1 (the lecture's formula, with padding P: (W - F + 2P) / S + 1).
Max-pooling's backward sends each gradient to the single input that won its window;
average pooling's spreads it evenly over the window.
"""
from __future__ import annotations

from .. import kernels
from ..backend import get_array_module
from ..geometry import output_size, pair, window_slice
from ..kernels import cpu, cuda
from ..tensor import Function, ShapeError
from .reduction import mean
from .conv import col2im, im2col


@kernels.dispatch(cpu=cpu.max_pool2d_forward, cuda=cuda.max_pool2d_forward)
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
            windows[i * kw + j] = xpad[:, :, window_slice(i, sh, oh), window_slice(j, sw, ow)]
    k = windows.argmax(axis=0)                      # which kernel offset won, (N, C, OH, OW)
    out = xp.take_along_axis(windows, k[None], axis=0)[0]
    rows = xp.arange(oh).reshape(oh, 1) * sh - ph + k // kw
    cols = xp.arange(ow).reshape(1, ow) * sw - pw + k % kw
    return out, (rows * w + cols).astype(xp.int64)


@kernels.dispatch(cpu=cpu.max_pool2d_backward, cuda=cuda.max_pool2d_backward)
def max_pool2d_backward(dout, argmax, x_shape):
    """Route each output gradient to the input that won its window: dx[argmax] += dout."""
    xp = get_array_module(dout)
    n, c, h, w = x_shape
    plane = (xp.arange(n * c, dtype=xp.int64) * (h * w)).reshape(n, c, 1, 1)
    dx = xp.bincount((argmax + plane).ravel(), weights=dout.ravel(), minlength=n * c * h * w)
    return dx.astype(dout.dtype, copy=False).reshape(n, c, h, w)


class MaxPool2d(Function):
    """x (N, C, H, W) -> (N, C, OH, OW). Caches the flat index of each window's maximum."""

    def forward(self, x, kernel, stride, padding):
        y, self.argmax = max_pool2d_forward(x, *kernel, stride, padding)
        self.x_shape = x.shape
        return y

    def backward(self, g):          # dL/dx[argmax] = dL/dy; every other input gets 0
        return (max_pool2d_backward(g, self.argmax, self.x_shape),)


class AvgPool2d(Function):
    """x (N, C, H, W) -> (N, C, OH, OW); zero padding counts in the average (PyTorch's default)."""

    def forward(self, x, kernel, stride, padding):
        n, c, h, w = x.shape
        self.x_shape, self.geometry = x.shape, (*kernel, stride, padding, (1, 1))
        cols = im2col(x.reshape(n * c, 1, h, w), *self.geometry)     # (kh*kw, N*C*OH*OW)
        self.area = kernel[0] * kernel[1]
        y = cols.mean(axis=0)                       # one mean a window
        oh = output_size(h, kernel[0], stride[0], padding[0])
        return y.reshape(n, c, oh, -1)

    def backward(self, g):          # each of the kh*kw inputs of a window gets 1/(kh*kw) of it
        n, c, h, w = self.x_shape
        dcols = get_array_module(g).broadcast_to(g.reshape(1, -1) / self.area, (self.area, g.size))
        dx = col2im(dcols, (n * c, 1, h, w), *self.geometry)
        return (dx.reshape(self.x_shape),)


def _pool_args(name, x, kernel_size, stride, padding):
    if x.ndim != 4:
        raise ShapeError(name, "input (N, C, H, W)", tuple(x.shape))
    kernel = pair(kernel_size, "kernel_size", name, 1)
    stride = kernel if stride is None else pair(stride, "stride", name, 1)
    padding = pair(padding, "padding", name, 0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{name}: padding must be at most half the kernel size, got padding={padding} "
                         f"for kernel_size={kernel}")
    if x.shape[2] + 2 * padding[0] < kernel[0] or x.shape[3] + 2 * padding[1] < kernel[1]:
        raise ShapeError(name, f"a map of at least {kernel} after padding", tuple(x.shape))
    return kernel, stride, padding


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max over each window; stride defaults to kernel_size. (N, C, H, W) -> (N, C, OH, OW)."""
    kernel, stride, padding = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    return MaxPool2d.apply(x, kernel=kernel, stride=stride, padding=padding)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over each window; stride defaults to kernel_size. (N, C, H, W) -> (N, C, OH, OW)."""
    kernel, stride, padding = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    return AvgPool2d.apply(x, kernel=kernel, stride=stride, padding=padding)


def _averaging_matrix(xp, size, out, dtype):
    """(out, size): row i averages inputs floor(i size / out) .. ceil((i + 1) size / out) - 1,
    PyTorch's adaptive windows (they overlap when out does not divide size)."""
    a = xp.zeros((out, size), dtype=dtype)
    for i in range(out):
        start, stop = (i * size) // out, -(-((i + 1) * size) // out)
        a[i, start:stop] = 1.0 / (stop - start)
    return a


class AdaptiveAvgPool2d(Function):
    """x (N, C, H, W) -> (N, C, oh, ow). A window's mean is its rows' mean of its columns' mean,
    so y = A_h x A_w^T with averaging matrices A_h (oh, H), A_w (ow, W), cached for backward."""

    def forward(self, x, output_size):
        xp = get_array_module(x)
        self.a_h = _averaging_matrix(xp, x.shape[2], output_size[0], x.dtype)
        self.a_w = _averaging_matrix(xp, x.shape[3], output_size[1], x.dtype)
        return self.a_h @ x @ self.a_w.T

    def backward(self, g):          # dL/dx = A_h^T G A_w: each window spreads its gradient evenly
        return (self.a_h.T @ g @ self.a_w,)


def adaptive_avg_pool2d(x, output_size=1):
    """Average to a fixed output size, whatever the input size. (N, C, H, W) -> (N, C, oh, ow).

    output_size 1 is global average pooling (ResNet's head). Output cell i averages input rows
    floor(i H / oh) to ceil((i + 1) H / oh) - 1, and likewise for columns, as in PyTorch.
    """
    if x.ndim != 4:
        raise ShapeError("adaptive_avg_pool2d", "input (N, C, H, W)", tuple(x.shape))
    oh, ow = pair(output_size, "output_size", "adaptive_avg_pool2d", 1)
    if (oh, ow) == (1, 1):
        return mean(x, axis=(2, 3), keepdims=True)
    return AdaptiveAvgPool2d.apply(x, output_size=(oh, ow))
