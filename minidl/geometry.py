"""Window arithmetic shared by every layer: int-or-pair arguments and output sizes.

A convolution or pooling window of kernel size k, stride S, padding P and dilation d slides over
an input of size W and gives

    W_out = (W + 2P - d (k - 1) - 1) // S + 1

outputs: the lecture's (W - F + 2P) / S + 1 with the dilated kernel F = d (k - 1) + 1.
This module sits at the bottom of minidl (it imports nothing of it): ``functional``, ``nn``,
``kernels``, the lessons and the benchmarks all take their arithmetic from here.
"""
from __future__ import annotations

import operator

import numpy as np


def pair(value, name: str, fn: str, minimum: int = 0) -> tuple[int, int]:
    """An int or a pair of ints, each >= minimum, as a 2-tuple; ``fn`` names the caller."""
    try:
        values = (value, value) if np.ndim(value) == 0 else tuple(value)
        values = tuple(operator.index(v) for v in values)
    except TypeError:
        raise TypeError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}") from None
    if len(values) != 2 or min(values) < minimum:
        raise ValueError(f"{fn}: {name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return values


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """How many windows fit: (size + 2 padding - dilation (kernel - 1) - 1) // stride + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def window_slice(offset: int, stride: int, count: int) -> slice:
    """Rows offset, offset + stride, ... (count of them): one kernel offset's share of every window."""
    return slice(offset, offset + stride * (count - 1) + 1, stride)


def window_geometry(fn, hw, kh, kw, stride, padding, dilation):
    """Validated (kh, kw, (sh, sw), (ph, pw), (dh, dw), oh, ow) for an H x W input."""
    kh, kw = pair((kh, kw), "kernel size", fn, 1)
    stride = pair(stride, "stride", fn, 1)
    padding = pair(padding, "padding", fn, 0)
    dilation = pair(dilation, "dilation", fn, 1)
    oh = output_size(hw[0], kh, stride[0], padding[0], dilation[0])
    ow = output_size(hw[1], kw, stride[1], padding[1], dilation[1])
    if oh < 1 or ow < 1:
        raise ValueError(f"{fn}: a {kh}x{kw} window (stride {stride}, padding {padding}, dilation "
                         f"{dilation}) does not fit a {hw[0]}x{hw[1]} input: output {oh}x{ow}")
    return kh, kw, stride, padding, dilation, oh, ow


def image_shape(x_shape, fn: str) -> tuple[int, int, int, int]:
    """x_shape checked to be 4 positive ints (N, C, H, W)."""
    try:
        shape = tuple(operator.index(s) for s in x_shape)
    except TypeError:
        raise TypeError(f"{fn}: x_shape must be a tuple of 4 ints, got {x_shape!r}") from None
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"{fn}: x_shape must be 4 positive ints (N, C, H, W), got {x_shape!r}")
    return shape


def out_array(out, shape: tuple, dtype, fn: str, xp):
    """A new ``xp`` array for an op's result, or the caller's ``out`` checked to fit: an ``xp``
    array of that shape and dtype, C-contiguous (the kernels write it as flat memory)."""
    if out is None:
        return xp.empty(shape, dtype=dtype)
    if (not isinstance(out, xp.ndarray) or out.shape != tuple(shape) or out.dtype != dtype
            or not out.flags.c_contiguous):
        got = f"{type(out).__name__} {getattr(out, 'shape', '')} {getattr(out, 'dtype', '')}".strip()
        raise ValueError(f"{fn}: out must be a C-contiguous {xp.__name__} array of shape {tuple(shape)} "
                         f"and dtype {xp.dtype(dtype)}, got {got}")
    return out
