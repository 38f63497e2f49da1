"""``minidl.cuda``: is there a GPU to run on? (PyTorch's names.)

    if minidl.cuda.is_available():
        model.to("cuda")
"""
from __future__ import annotations

from .backend import cuda_available, cupy_or_none


def is_available() -> bool:
    """True when CuPy imported and sees at least one CUDA device."""
    return cuda_available()


def device_count() -> int:
    """The number of CUDA devices CuPy sees (0 without CuPy or a GPU)."""
    return cupy_or_none().cuda.runtime.getDeviceCount() if cuda_available() else 0


def synchronize() -> None:
    """Wait for the current device to finish its queued work (for timing); nothing without a GPU."""
    if cuda_available():
        cupy_or_none().cuda.Device().synchronize()
