"""2-D convolution by im2col and one matrix product.

Forward, with the columns of the whole batch side by side (windows.im2col):
    cols = im2col(x)                           (C*kh*kw, N*OH*OW)   one column per receptive field
    y    = W.reshape(F, C*kh*kw) @ cols + b    (F, N*OH*OW) -> (N, F, OH, OW)
Backward, with G = dL/dy laid out the same way, (F, N*OH*OW):
    dL/dW = G @ cols^T                         (the same product as a fully connected layer)
    dL/db = sum of G over the batch and positions
    dL/dx = col2im(W^T @ G)                    (scatter each column back to its window)
With groups g, the channels split into g independent convolutions side by side.
"""
from __future__ import annotations

from .. import kernels
from ..backend import device_of, get_array_module
from ..tensor import Function, ShapeError
from .windows import col2im, im2col, output_size


def _pair(v, name):
    pair = (v, v) if isinstance(v, int) else tuple(v)
    if len(pair) != 2 or any(int(p) != p for p in pair):
        raise ValueError(f"conv2d: {name} must be an int or a pair of ints, got {v!r}")
    return tuple(int(p) for p in pair)


# When the columns need not be kept (no dL/dW wanted: inference, frozen weights), they are built a
# block of images at a time: a block of this many bytes is still in the cache when the product
# reads it back, and memory stays bounded. When dL/dW is wanted the whole batch is one block.
_BLOCK_BYTES = {"cpu": 4 << 20, "cuda": 1 << 30}


def _per_group(a, b):
    """a[k] @ b[k] for each group k. With one group, a 2-D product: BLAS and cuBLAS then read a
    transposed view in place, where a batched product may first copy it."""
    return (a[0] @ b[0])[None] if a.shape[0] == 1 else a @ b


class Conv2d(Function):
    """x (N, C, H, W), w (F, C/groups, kh, kw), b (F,) -> y (N, F, OH, OW).

    Caches the weight (for dL/dx) and, only when dL/dW is wanted, the columns.
    """

    def forward(self, x, w, b, stride, padding, dilation, groups):
        xp = get_array_module(x)
        n, c, h, wd = x.shape
        f, cg, kh, kw = w.shape
        self.x_shape, self.geometry, self.groups = x.shape, (kh, kw, stride, padding, dilation), groups
        oh, ow = (output_size(h, kh, stride[0], padding[0], dilation[0]),
                  output_size(wd, kw, stride[1], padding[1], dilation[1]))
        if oh < 1 or ow < 1:
            raise ShapeError("conv2d", f"an input of at least the dilated kernel's size "
                             f"({dilation[0] * (kh - 1) + 1}x{dilation[1] * (kw - 1) + 1}) after padding",
                             f"{h}x{wd} with padding {padding}")
        unfold = kernels.lookup("im2col", im2col, like=x)
        self.w = w.reshape(groups, f // groups, cg * kh * kw)     # one (F/g, C/g*kh*kw) matrix a group
        rows, positions = c * kh * kw, oh * ow
        y = xp.empty((n, groups, f // groups, positions), dtype=x.dtype)
        keep = self.needs_input_grad[1]
        step = n if keep else max(1, _BLOCK_BYTES[device_of(x)] // (rows * positions * x.itemsize))
        block = None if keep else xp.empty(rows * min(step, n) * positions, dtype=x.dtype)  # reused
        for i in range(0, n, step):
            m = min(step, n - i)
            out = None if keep else block[:rows * m * positions].reshape(rows, m * positions)
            cols = unfold(x[i:i + m], kh, kw, stride, padding, dilation, out=out)
            cols = cols.reshape(groups, cg * kh * kw, m * positions)
            if m == 1:                          # one image: its products land in y[i] directly
                for k in range(groups):             # 2-D products: BLAS writes into out in place
                    xp.matmul(self.w[k], cols[k], out=y[i, k])
            else:                               # (g, F/g, m*OH*OW) -> (m, g, F/g, OH*OW)
                y[i:i + m] = _per_group(self.w, cols).reshape(groups, f // groups, m, positions).transpose(2, 0, 1, 3)
        if keep:
            self.cols = cols
        y = y.reshape(n, f, oh, ow)
        if b is not None:
            y += b.reshape(1, f, 1, 1)
        return y

    def backward(self, g):
        xp = get_array_module(g)
        n, f, oh, ow = g.shape
        # G as (groups, F/g, N*OH*OW), the columns' layout
        g = xp.ascontiguousarray(g.reshape(n, f, oh * ow).swapaxes(0, 1)).reshape(self.groups, f // self.groups, -1)
        dx = dw = db = None
        if self.needs_input_grad[0]:
            w_t = xp.ascontiguousarray(self.w.swapaxes(-1, -2))   # small; BLAS prefers it
            dcols = _per_group(w_t, g).reshape(-1, n * oh * ow)
            dx = kernels.lookup("col2im", col2im, like=dcols)(dcols, self.x_shape, *self.geometry)
        if self.needs_input_grad[1]:
            dw = _per_group(g, self.cols.swapaxes(-1, -2)).reshape(f, -1, *self.geometry[:2])
        if self.needs_input_grad[2]:
            db = g.sum(axis=2).reshape(f)
        return dx, dw, db


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, PyTorch's argument order.

    x (N, C, H, W), weight (F, C/groups, kh, kw), bias (F,) or None -> (N, F, OH, OW), with
    OH = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1.
    """
    stride, padding, dilation = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    if x.ndim != 4:
        raise ShapeError("conv2d", "input (N, C, H, W)", tuple(x.shape))
    if weight.ndim != 4:
        raise ShapeError("conv2d", "weight (F, C/groups, kh, kw)", tuple(weight.shape))
    c, f = x.shape[1], weight.shape[0]
    if c % groups or f % groups or weight.shape[1] * groups != c:
        raise ShapeError("conv2d", f"input with {weight.shape[1] * groups} channels "
                         f"(weight {tuple(weight.shape)}, groups={groups})", tuple(x.shape))
    if bias is not None and tuple(bias.shape) != (f,):
        raise ShapeError("conv2d", f"bias ({f},)", tuple(bias.shape))
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"conv2d: stride and dilation must be >= 1 and padding >= 0, "
                         f"got stride={stride}, padding={padding}, dilation={dilation}")
    return Conv2d.apply(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)


def conv_output_shape(x_shape, weight_shape, stride=1, padding=0, dilation=1):
    """(N, C, H, W) and (F, C, kh, kw) -> (N, F, OH, OW), the lecture's output-size arithmetic."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    n, _, h, w = x_shape
    f, _, kh, kw = weight_shape
    return n, f, output_size(h, kh, sh, ph, dh), output_size(w, kw, sw, pw, dw)
