"""What every CUDA kernel shares: the compiled module of ``windows.cu``, launches, argument checks.

CuPy is optional. Without it these modules still import (so ``im2col.cuda`` is always there to
read), ``UNAVAILABLE`` says why, and calling a kernel raises. CuPy compiles each float/double
instantiation of the CUDA C source on first use and caches it on disk.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ...backend import cupy_or_none

cupy = cupy_or_none()
UNAVAILABLE = None if cupy is not None else "CuPy is not installed or failed to load: pip install 'minidl[gpu]'"

KERNELS = ("im2col", "col2im", "max_pool2d_forward", "max_pool2d_backward")
CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
INDEX = {np.int32: "int", np.int64: "long long"}
THREADS = 256
MAX_BLOCKS = 65535 * 32  # the grid-stride loops cover any larger total
INT32_LIMIT = 2**31      # flat indices below this use the int instances (a test lowers it)


@functools.cache
def module():
    """windows.cu compiled for every (float type, index type) pair."""
    source = (Path(__file__).parent / "windows.cu").read_text(encoding="utf-8")
    return cupy.RawModule(code=source, name_expressions=[
        f"{k}<{t}, {i}>" for k in KERNELS for t in CTYPES.values() for i in INDEX.values()])


@functools.cache
def kernel(name: str, dtype, index):
    """The compiled ``name<float or double, int or long long>``."""
    return module().get_function(f"{name}<{CTYPES[dtype]}, {INDEX[index]}>")


def launch(name: str, dtype, total: int, largest: int, args: tuple) -> None:
    """Run kernel ``name<dtype>`` over ``total`` elements (nothing to do when total is 0).

    ``args`` holds the kernel's index-typed arguments as Python ints; they are passed as int32
    when no flat index (up to ``largest`` elements, plus one grid stride) can overflow it."""
    if total == 0:
        return
    index = np.int32 if largest + THREADS * MAX_BLOCKS < INT32_LIMIT else np.int64
    args = tuple(index(a) if isinstance(a, int) else a for a in args)
    blocks = min((total + THREADS - 1) // THREADS, MAX_BLOCKS)
    kernel(name, dtype, index)((blocks,), (THREADS,), args)


def float_array(a, name: str, fn: str, ndim: int):
    """``a`` as a C-contiguous float32/float64 CuPy array with ``ndim`` dimensions."""
    if cupy is None:
        raise RuntimeError(f"{fn}: the CUDA kernels need CuPy ({UNAVAILABLE})")
    if not isinstance(a, cupy.ndarray):
        raise TypeError(f"{fn}: {name} must be a CuPy array, got {type(a).__name__}")
    if a.dtype not in CTYPES:
        raise TypeError(f"{fn}: {name} must be float32 or float64, got {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{fn}: {name} must be {ndim}-d, got shape {a.shape}")
    return cupy.ascontiguousarray(a)


def ints(*values) -> tuple:
    """Kernel arguments declared int in windows.cu."""
    return tuple(np.int32(v) for v in values)
