"""CuPy fast paths for CUDA GPUs (backend "cuda"): the sliding-window ops as raw CUDA kernels.

Each function has the signature of its reference in ``minidl.functional.windows`` and returns
the same arrays. The CUDA C source is ``cuda/windows.cu`` next to this file (installed as package
data); CuPy compiles each float/double instantiation on first use and caches it on disk.
Importing this module without CuPy raises ImportError, which the registry reports in status().
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

try:
    import cupy
except Exception as exc:  # ImportError, or a CUDA library that fails to load
    raise ImportError(f"the CUDA kernels need CuPy: {type(exc).__name__}: {exc}") from exc

from . import register
from ._checks import image_shape, out_array, window_geometry

_SOURCE = (Path(__file__).parent / "cuda" / "windows.cu").read_text(encoding="utf-8")
_KERNELS = ("im2col", "col2im", "max_pool2d_forward", "max_pool2d_backward")
_CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
_INDEX = {np.int32: "int", np.int64: "long long"}
_module = cupy.RawModule(code=_SOURCE, name_expressions=[f"{k}<{t}, {i}>" for k in _KERNELS
                                                           for t in _CTYPES.values()
                                                           for i in _INDEX.values()])
_THREADS = 256
_MAX_BLOCKS = 65535 * 32  # the grid-stride loops cover any larger total
_INT32_LIMIT = 2**31      # flat indices below this use the int instances (a test lowers it)


@functools.cache
def _kernel(name: str, dtype, index):
    """The compiled ``name<float or double, int or long long>``."""
    return _module.get_function(f"{name}<{_CTYPES[dtype]}, {_INDEX[index]}>")


def _launch(name: str, dtype, total: int, largest: int, args: tuple) -> None:
    """Run kernel ``name<dtype>`` over ``total`` elements (nothing to do when total is 0).

    ``args`` holds the kernel's index-typed arguments as Python ints; they are passed as int32
    when no flat index (up to ``largest`` elements, plus one grid stride) can overflow it."""
    if total == 0:
        return
    index = np.int32 if largest + _THREADS * _MAX_BLOCKS < _INT32_LIMIT else np.int64
    args = tuple(index(a) if isinstance(a, int) else a for a in args)
    blocks = min((total + _THREADS - 1) // _THREADS, _MAX_BLOCKS)
    _kernel(name, dtype, index)((blocks,), (_THREADS,), args)


def _float_array(a, name: str, fn: str, ndim: int):
    """``a`` as a C-contiguous float32/float64 CuPy array with ``ndim`` dimensions."""
    if not isinstance(a, cupy.ndarray):
        raise TypeError(f"{fn}: {name} must be a CuPy array, got {type(a).__name__}")
    if a.dtype not in _CTYPES:
        raise TypeError(f"{fn}: {name} must be float32 or float64, got {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{fn}: {name} must be {ndim}-d, got shape {a.shape}")
    return cupy.ascontiguousarray(a)


def _ints(*values) -> tuple:
    """Kernel arguments declared int in windows.cu."""
    return tuple(np.int32(v) for v in values)


@register("im2col", "cuda")
def im2col(x, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1), out=None):
    """(N, C, H, W) -> columns (C*kh*kw, N*OH*OW); the layout of windows.im2col."""
    x = _float_array(x, "x", "im2col", 4)
    n, c, h, w = x.shape
    kh, kw, (sh, sw), (ph, pw), (dh, dw), oh, ow = window_geometry(
        "im2col", (h, w), kh, kw, stride, padding, dilation)
    cols = out_array(out, (c * kh * kw, n * oh * ow), x.dtype, "im2col", cupy)
    _launch("im2col", x.dtype, cols.size, max(cols.size, x.size),
            (x, cols, cols.size, *_ints(n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)))
    return cols


@register("col2im", "cuda")
def col2im(cols, x_shape, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """Columns (C*kh*kw, N*OH*OW) -> image (N, C, H, W), summing where windows overlap."""
    cols = _float_array(cols, "cols", "col2im", 2)
    n, c, h, w = image_shape(x_shape, "col2im")
    kh, kw, (sh, sw), (ph, pw), (dh, dw), oh, ow = window_geometry(
        "col2im", (h, w), kh, kw, stride, padding, dilation)
    if cols.shape != (c * kh * kw, n * oh * ow):
        raise ValueError(f"col2im: cols must have shape {(c * kh * kw, n * oh * ow)} for x_shape "
                         f"{tuple(x_shape)} and a {kh}x{kw} kernel, got {cols.shape}")
    dx = cupy.empty((n, c, h, w), dtype=cols.dtype)
    _launch("col2im", cols.dtype, dx.size, max(cols.size, dx.size),
            (cols, dx, dx.size, *_ints(n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)))
    return dx


@register("max_pool2d_forward", "cuda")
def max_pool2d_forward(x, kh, kw, stride, padding):
    """(N, C, H, W) -> (out (N, C, OH, OW), argmax (N, C, OH, OW) int64 flat index into H*W)."""
    x = _float_array(x, "x", "max_pool2d_forward", 4)
    n, c, h, w = x.shape
    kh, kw, (sh, sw), (ph, pw), _, oh, ow = window_geometry(
        "max_pool2d_forward", (h, w), kh, kw, stride, padding, (1, 1))
    out = cupy.empty((n, c, oh, ow), dtype=x.dtype)
    argmax = cupy.empty((n, c, oh, ow), dtype=cupy.int64)
    _launch("max_pool2d_forward", x.dtype, out.size, x.size,
            (x, out, argmax, out.size, *_ints(h, w, kh, kw, sh, sw, ph, pw, oh, ow)))
    return out, argmax


@register("max_pool2d_backward", "cuda")
def max_pool2d_backward(dout, argmax, x_shape):
    """dout, argmax (N, C, OH, OW) -> dx (N, C, H, W) with dx[argmax] += dout.

    Unlike the CPU kernel this does not check argmax (that would wait for the GPU); entries
    outside the H x W plane are skipped.
    """
    dout = _float_array(dout, "dout", "max_pool2d_backward", 4)
    n, c, h, w = image_shape(x_shape, "max_pool2d_backward")
    if not isinstance(argmax, cupy.ndarray) or argmax.dtype.kind not in "iu":
        raise TypeError("max_pool2d_backward: argmax must be an integer CuPy array, got "
                        f"{getattr(argmax, 'dtype', type(argmax).__name__)}")
    if argmax.shape != dout.shape or dout.shape[:2] != (n, c):
        raise ValueError(f"max_pool2d_backward: dout {dout.shape} and argmax {argmax.shape} must "
                         f"both be (N, C, OH, OW) with (N, C) = {(n, c)} from x_shape")
    argmax = cupy.ascontiguousarray(argmax, dtype=cupy.int64)
    dx = cupy.zeros((n, c, h, w), dtype=dout.dtype)
    oh, ow = dout.shape[2:]
    _launch("max_pool2d_backward", dout.dtype, dout.size, max(dout.size, dx.size),
            (dout, argmax, dx, dout.size, h * w, oh * ow))
    return dx
