"""2-D convolution by im2col and one matrix product.

Forward, for each image n (all at once, as a batched product):
    cols[n] = im2col(x[n])                     (C*kh*kw, OH*OW)   one column per receptive field
    y[n]    = W.reshape(F, C*kh*kw) @ cols[n] + b                  (F, OH*OW) -> (F, OH, OW)
Backward, with G[n] = dL/dy[n] reshaped to (F, OH*OW):
    dL/dW = sum_n G[n] @ cols[n]^T             (the same product as a fully connected layer)
    dL/db = sum over n, OH, OW of G
    dL/dx = col2im(W^T @ G[n])                 (scatter each column back to its window)
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
        # (g, F/g, C/g*kh*kw) @ (N, g, C/g*kh*kw, L): one product per group, batched over N
        self.w = w.reshape(groups, f // groups, cg * kh * kw)
        y = xp.empty((n, groups, f // groups, oh * ow), dtype=x.dtype)
        keep = self.needs_input_grad[1]
        step = n if keep else max(1, _BLOCK_BYTES[device_of(x)] // (c * kh * kw * oh * ow * x.itemsize))
        for i in range(0, n, step):
            cols = unfold(x[i:i + step], kh, kw, stride, padding, dilation).reshape(-1, groups, cg * kh * kw, oh * ow)
            xp.matmul(self.w, cols, out=y[i:i + step])
        if keep:
            self.cols = cols
        y = y.reshape(n, f, oh, ow)
        if b is not None:
            y += b.reshape(1, f, 1, 1)
        return y

    def backward(self, g):
        n, f, oh, ow = g.shape
        g = g.reshape(n, self.groups, f // self.groups, oh * ow)
        dx = dw = db = None
        if self.needs_input_grad[0]:
            w_t = get_array_module(g).ascontiguousarray(self.w.swapaxes(-1, -2))  # small; BLAS prefers it
            dcols = (w_t @ g).reshape(n, -1, oh * ow)
            dx = kernels.lookup("col2im", col2im, like=dcols)(dcols, self.x_shape, *self.geometry)
        if self.needs_input_grad[1]:
            # sum_n G[n] @ cols[n]^T: a batch of products read in place (cols[n]^T is a transposed
            # view, which BLAS takes as a flag), then a sum over the images
            dw = (g @ self.cols.swapaxes(-1, -2)).sum(axis=0).reshape(f, -1, *self.geometry[:2])
        if self.needs_input_grad[2]:
            db = g.sum(axis=(0, 3)).reshape(f)
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
