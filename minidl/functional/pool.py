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
from .basic import pad
from .conv import col2im, im2col
from .reduction import mean


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


class DilatedMaxPool2d(Function):
    """Max over dilated windows of an already padded x (N, C, H, W): the windows are im2col's
    columns, so y is the columns' max and the gradient goes back to each winner through col2im."""

    def forward(self, x, kernel, stride, dilation):
        xp = get_array_module(x)
        n, c, h, w = x.shape
        self.x_shape, self.geometry = x.shape, (*kernel, stride, (0, 0), dilation)
        cols = im2col(x.reshape(n * c, 1, h, w), *self.geometry)       # (kh*kw, N*C*OH*OW)
        self.winner = cols.argmax(axis=0)
        y = xp.take_along_axis(cols, self.winner[None], axis=0)[0]
        oh = output_size(h, kernel[0], stride[0], 0, dilation[0])
        return y.reshape(n, c, oh, -1)

    def backward(self, g):          # dL/dx at each window's winner += dL/dy
        xp = get_array_module(g)
        n, c, h, w = self.x_shape
        dcols = xp.zeros((self.geometry[0] * self.geometry[1], g.size), dtype=g.dtype)
        dcols[self.winner, xp.arange(g.size)] = g.ravel()
        return (col2im(dcols, (n * c, 1, h, w), *self.geometry).reshape(self.x_shape),)


class AvgPool2d(Function):
    """x (N, C, H, W) -> (N, C, OH, OW): each window's sum over ``divisor`` (OH, OW), after
    zero padding ((top, bottom), (left, right)) that may be uneven (ceil mode)."""

    def forward(self, x, kernel, stride, pads, divisor):
        xp = get_array_module(x)
        self.x_shape, self.pads, self.divisor = x.shape, pads, divisor
        if any(p for pair_ in pads for p in pair_):
            x = xp.pad(x, ((0, 0), (0, 0), *pads))
        n, c, h, w = self.padded_shape = x.shape
        self.geometry = (*kernel, stride)
        cols = im2col(x.reshape(n * c, 1, h, w), *self.geometry)     # (kh*kw, N*C*OH*OW)
        return cols.sum(axis=0).reshape(n, c, *divisor.shape) / divisor

    def backward(self, g):          # each input of a window gets dL/dy / divisor
        xp = get_array_module(g)
        n, c, h, w = self.padded_shape
        area = self.geometry[0] * self.geometry[1]
        dcols = xp.broadcast_to((g / self.divisor).reshape(1, -1), (area, g.size))
        dx = col2im(dcols, (n * c, 1, h, w), *self.geometry).reshape(self.padded_shape)
        (top, _), (left, _) = self.pads
        return (dx[:, :, top:top + self.x_shape[2], left:left + self.x_shape[3]],)


def pool_output_size(size, kernel, stride, padding, dilation=1, ceil_mode=False):
    """PyTorch's pooled size: (size + 2P - D(k - 1) - 1) / S + 1 rounded down, or up with
    ceil_mode, less one if that last window would start in the right padding."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _pool_args(name, x, kernel_size, stride, padding, dilation=1, ceil_mode=False):
    """(kernel, stride, padding, dilation, (OH, OW), extra) with extra the rows and columns that
    ceil mode's last windows reach past the right padding."""
    if x.ndim != 4:
        raise ShapeError(name, "input (N, C, H, W)", tuple(x.shape))
    kernel = pair(kernel_size, "kernel_size", name, 1)
    stride = kernel if stride is None else pair(stride, "stride", name, 1)
    padding = pair(padding, "padding", name, 0)
    dilation = pair(dilation, "dilation", name, 1)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{name}: padding must be at most half the kernel size, got padding={padding} "
                         f"for kernel_size={kernel}")
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if x.shape[2] + 2 * padding[0] < span[0] or x.shape[3] + 2 * padding[1] < span[1]:
        raise ShapeError(name, f"a map of at least the (dilated) kernel {span} after padding", tuple(x.shape))
    out = tuple(pool_output_size(n, k, s, p, d, ceil_mode)
                for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation))
    extra = tuple(max(0, (o - 1) * s + sp - (n + 2 * p))
                  for o, s, sp, n, p in zip(out, stride, span, x.shape[2:], padding))
    return kernel, stride, padding, dilation, out, extra


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over each window; stride defaults to kernel_size. (N, C, H, W) -> (N, C, OH, OW).

    PyTorch's arguments: dilation spaces the window's taps, ceil_mode rounds OH up (a last,
    partial window). Padding counts as -inf, so it never wins.
    """
    if return_indices:
        raise ValueError("max_pool2d: return_indices=True is not supported (the indices stay inside "
                         "the op, for its backward)")
    kernel, stride, padding, dilation, _, extra = _pool_args(
        "max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    if dilation == (1, 1) and extra == (0, 0):
        return MaxPool2d.apply(x, kernel=kernel, stride=stride, padding=padding)
    (ph, pw), (eh, ew) = padding, extra          # pad by hand, then pool without padding
    x = pad(x, ((0, 0), (0, 0), (ph, ph + eh), (pw, pw + ew)), value=-float("inf"))
    if dilation == (1, 1):
        return MaxPool2d.apply(x, kernel=kernel, stride=stride, padding=(0, 0))
    return DilatedMaxPool2d.apply(x, kernel=kernel, stride=stride, dilation=dilation)


def _avg_divisor(xp, dtype, sizes, kernel, stride, padding, out, count_include_pad, divisor_override):
    """(OH, OW) divisors, PyTorch's: the window clipped to the padded input (count_include_pad),
    or to the input itself (not), or divisor_override everywhere."""
    if divisor_override is not None:
        return xp.full(out, float(divisor_override), dtype=dtype)
    counts = []
    for n, k, s, p, o in zip(sizes, kernel, stride, padding, out):
        start = xp.arange(o) * s - p
        stop = xp.minimum(start + k, n + p)
        if not count_include_pad:
            start, stop = xp.maximum(start, 0), xp.minimum(stop, n)
        counts.append((stop - start).astype(dtype))
    return counts[0][:, None] * counts[1][None, :]


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over each window; stride defaults to kernel_size. (N, C, H, W) -> (N, C, OH, OW).

    PyTorch's arguments: zero padding counts in the mean unless count_include_pad=False;
    ceil_mode rounds OH up (a last window clipped to the padded input is averaged over what it
    covers); divisor_override replaces every divisor.
    """
    if divisor_override is not None and (isinstance(divisor_override, bool) or int(divisor_override) != divisor_override
                                         or divisor_override < 1):
        raise ValueError(f"avg_pool2d: divisor_override must be a positive int, got {divisor_override!r}")
    kernel, stride, padding, _, out, extra = _pool_args("avg_pool2d", x, kernel_size, stride, padding,
                                                        1, ceil_mode)
    divisor = _avg_divisor(get_array_module(x.data), x.dtype, x.shape[2:], kernel, stride, padding, out,
                           count_include_pad, divisor_override)
    pads = tuple((p, p + e) for p, e in zip(padding, extra))
    return AvgPool2d.apply(x, kernel=kernel, stride=stride, pads=pads, divisor=divisor)


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
