"""2-D convolution by im2col and one matrix product.

im2col copies every kh x kw window of an (N, C, H, W) batch into a column, so that a convolution
becomes ONE matrix product (CS231n's trick); col2im, its adjoint, sums columns back into the image.

Forward, with the columns of the whole batch side by side:
    cols = im2col(x)                           (C*kh*kw, N*OH*OW)   one column per receptive field
    y    = W.reshape(F, C*kh*kw) @ cols + b    (F, N*OH*OW) -> (N, F, OH, OW)
Backward, with G = dL/dy laid out the same way, (F, N*OH*OW):
    dL/dW = G @ cols^T                         (the same product as a fully connected layer)
    dL/db = sum of G over the batch and positions
    dL/dx = col2im(W^T @ G)                    (scatter each column back to its window)
The backward pass builds the columns again from x instead of keeping them from the forward pass:
they hold kh*kw times the input, for every layer until its backward, while im2col is one copy.
With groups g, the channels split into g independent convolutions side by side.

im2col, col2im, conv2d_forward and conv2d_backward are dispatched ops (``minidl.kernels``): the
code below is their plain reference, and ``im2col.cpu`` / ``im2col.cuda`` are the fast kernels,
tested equal to it. ``conv2d_forward.cpu`` runs stride-1 layers with small windows without any
columns: the same sum over window offsets (i, j), one product W[:, :, i, j] @ (x shifted by
(i, j)) per offset (``kernels/cpu/shifted_conv.py``).
"""
from __future__ import annotations

from .. import kernels
from ..backend import get_array_module
from ..geometry import out_array, output_size, pair, window_slice
from ..kernels import cpu, cuda
from ..kernels.blocked_conv import matmul_groups
from ..tensor import Function, ShapeError
from .basic import pad


@kernels.dispatch(cpu=cpu.im2col, cuda=cuda.im2col)
def im2col(x, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1), out=None):
    """(N, C, H, W) -> columns (C*kh*kw, N*OH*OW), one column per window of the whole batch.

    Row r = (c*kh + i)*kw + j holds input channel c at kernel offset (i, j); column n*OH*OW + p
    is image n's window at output position p (Caffe's layout). ``out``: an array to write the
    columns into. The loop runs over the kh*kw kernel offsets only, never over pixels.
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
            cols[:, i, j] = xpad[:, :, window_slice(i * dh, sh, oh), window_slice(j * dw, sw, ow)]
    return out


@kernels.dispatch(cpu=cpu.col2im, cuda=cuda.col2im)
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
            dx[:, :, window_slice(i * dh, sh, oh), window_slice(j * dw, sw, ow)] += cols[:, i, j]
    return xp.ascontiguousarray(dx.transpose(1, 0, 2, 3)[:, :, ph:ph + h, pw:pw + w])


@kernels.dispatch(cpu=cpu.conv2d_forward, cuda=cuda.conv2d_forward)
def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """x (N, C, H, W), w (F, C/g, kh, kw), b (F,) or None -> y (N, F, OH, OW)."""
    n = x.shape[0]
    f, cg, kh, kw = w.shape
    cols = im2col(x, kh, kw, stride, padding, dilation).reshape(groups, cg * kh * kw, -1)
    y = matmul_groups(w.reshape(groups, f // groups, -1), cols)       # (g, F/g, N*OH*OW)
    y = y.reshape(f, n, -1).transpose(1, 0, 2)                         # (N, F, OH*OW)
    oh = output_size(x.shape[2], kh, stride[0], padding[0], dilation[0])
    y = y.reshape(n, f, oh, -1)                                        # a copy, C-contiguous
    if b is not None:
        y += b.reshape(1, f, 1, 1)
    return y


@kernels.dispatch(cpu=cpu.conv2d_backward, cuda=cuda.conv2d_backward)
def conv2d_backward(g, x, w, stride, padding, dilation, groups, need_dx=True, need_dw=True):
    """dL/dy (N, F, OH, OW) -> (dL/dx (N, C, H, W) or None, dL/dW (F, C/g, kh, kw) or None)."""
    xp = get_array_module(g)
    n, f, oh, ow = g.shape
    _, cg, kh, kw = w.shape
    geometry = (kh, kw, stride, padding, dilation)
    # G in the columns' layout: (g, F/g, N*OH*OW)
    g = xp.ascontiguousarray(g.reshape(n, f, oh * ow).swapaxes(0, 1)).reshape(groups, f // groups, -1)
    w = w.reshape(groups, f // groups, cg * kh * kw)
    dx = dw = None
    if need_dx:                         # dL/dx = col2im(W^T G)
        dcols = matmul_groups(xp.ascontiguousarray(w.swapaxes(-1, -2)), g)
        dx = col2im(dcols.reshape(-1, n * oh * ow), x.shape, *geometry)
    if need_dw:                         # dL/dW = G cols^T, with the columns built again
        cols = im2col(x, *geometry).reshape(groups, cg * kh * kw, -1)
        dw = matmul_groups(g, cols.swapaxes(-1, -2)).reshape(f, cg, kh, kw)
    return dx, dw


class Conv2d(Function):
    """x (N, C, H, W), w (F, C/groups, kh, kw), b (F,) -> y (N, F, OH, OW).

    Caches the weight (for dL/dx) and the input (for dL/dW; the graph holds it anyway), not the
    columns.
    """

    def forward(self, x, w, b, stride, padding, dilation, groups):
        self.x, self.w, self.geometry = x, w, (stride, padding, dilation, groups)
        return conv2d_forward(x, w, b, stride, padding, dilation, groups)

    def backward(self, g):
        need = self.needs_input_grad
        dx, dw = conv2d_backward(g, self.x, self.w, *self.geometry, need_dx=need[0], need_dw=need[1])
        return dx, dw, g.sum(axis=(0, 2, 3)) if need[2] else None          # dL/db = sum of G


def conv_geometry(stride, padding, dilation, fn="conv2d"):
    """stride, padding and dilation as pairs, checked (stride, dilation >= 1; padding >= 0)."""
    return pair(stride, "stride", fn, 1), pair(padding, "padding", fn, 0), pair(dilation, "dilation", fn, 1)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, PyTorch's argument order.

    x (N, C, H, W), weight (F, C/groups, kh, kw), bias (F,) or None -> (N, F, OH, OW), with
    OH = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1. padding may also be 'valid' (0)
    or 'same' (stride 1: OH = H; an odd total dilation (kh - 1) puts the extra row at the bottom
    and the extra column on the right, as PyTorch does).
    """
    x, stride, padding, dilation = conv2d_arguments(x, weight, bias, stride, padding, dilation, groups)
    return Conv2d.apply(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)


def conv2d_arguments(x, weight, bias, stride, padding, dilation, groups):
    """conv2d's arguments checked, the geometry as pairs: (x, stride, padding, dilation), x
    padded where padding='same' needs an extra row or column."""
    if isinstance(padding, str):
        x, padding = string_padding(x, weight, padding, stride, dilation)
    stride, padding, dilation = conv_geometry(stride, padding, dilation)
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
    _, _, oh, ow = conv_output_shape(x.shape, weight.shape, stride, padding, dilation)
    if oh < 1 or ow < 1:
        kh, kw = weight.shape[2:]
        raise ShapeError("conv2d", f"an input of at least the dilated kernel's size "
                         f"({dilation[0] * (kh - 1) + 1}x{dilation[1] * (kw - 1) + 1}) after padding",
                         f"{x.shape[2]}x{x.shape[3]} with padding {padding}")
    return x, stride, padding, dilation


def string_padding(x, weight, padding, stride, dilation):
    """(x, padding) for padding='valid' or 'same'; 'same' with an odd total pads x's bottom and
    right edge by one extra zero row or column (a differentiable pad) and the rest evenly."""
    if padding == "valid":
        return x, 0
    if padding != "same":
        raise ValueError(f"conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    if pair(stride, "stride", "conv2d", 1) != (1, 1):
        raise ValueError(f"conv2d: padding='same' needs stride 1 (as in PyTorch), got stride={stride!r}")
    if x.ndim != 4 or weight.ndim != 4:
        raise ShapeError("conv2d", "input (N, C, H, W) and weight (F, C/groups, kh, kw)",
                         (tuple(x.shape), tuple(weight.shape)))
    total = [d * (k - 1) for d, k in zip(pair(dilation, "dilation", "conv2d", 1), weight.shape[2:])]
    if total[0] % 2 or total[1] % 2:
        x = pad(x, ((0, 0), (0, 0), (0, total[0] % 2), (0, total[1] % 2)))
    return x, (total[0] // 2, total[1] // 2)


def conv_output_shape(x_shape, weight_shape, stride=1, padding=0, dilation=1):
    """(N, C, H, W) and (F, C, kh, kw) -> (N, F, OH, OW), the lecture's output-size arithmetic."""
    (sh, sw), (ph, pw), (dh, dw) = conv_geometry(stride, padding, dilation, "conv_output_shape")
    n, _, h, w = x_shape
    f, _, kh, kw = weight_shape
    return n, f, output_size(h, kh, sh, ph, dh), output_size(w, kw, sw, pw, dw)
