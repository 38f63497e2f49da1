"""Array backends: NumPy on the CPU, CuPy on a CUDA GPU, one code path for both.

Every op asks ``xp = get_array_module(a)`` and writes ``xp.exp(...)`` instead of ``np.exp(...)``,
so the same forward and backward formulas run on either device (Chainer's idiom).
CuPy is optional: without it, or without a GPU, minidl is a pure NumPy library.
"""
from __future__ import annotations

import numpy as np

try:  # CuPy is an optional extra (`pip install minidl[gpu]`)
    import cupy as _cupy
except Exception:  # ImportError, or a CUDA library that fails to load
    _cupy = None


def cupy_or_none():
    """The cupy module if it imported, else None."""
    return _cupy


def is_cupy_array(a) -> bool:
    return _cupy is not None and isinstance(a, _cupy.ndarray)


def get_array_module(*arrays):
    """cupy if any argument is a CuPy array, else numpy."""
    for a in arrays:
        if is_cupy_array(a):
            return _cupy
    return np


def device_of(a) -> str:
    """'cuda' for a CuPy array, 'cpu' otherwise."""
    return "cuda" if is_cupy_array(a) else "cpu"


def cuda_available() -> bool:
    """True when CuPy imported and sees at least one CUDA device."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def to_device(a, device: str):
    """Copy an array to 'cpu' or 'cuda' (no copy when it is already there)."""
    if device == "cpu":
        return _cupy.asnumpy(a) if is_cupy_array(a) else np.asarray(a)
    if device == "cuda":
        if not cuda_available():
            raise RuntimeError("device 'cuda' requested, but CuPy or a CUDA GPU is not available "
                               "(install the extra: pip install 'minidl[gpu]')")
        return _cupy.asarray(a)
    raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")
