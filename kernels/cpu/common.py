"""What every Numba kernel shares: compile options, the thread-count rule, the argument check.

The kernels read and write flat arrays that their wrappers allocate with NumPy: views made
inside prange cost an atomic reference count each, and NumPy backs large arrays with huge pages,
which Numba's allocator does not (page faults made fresh outputs 5x slower to fill). Every index
is cast to unsigned (``u``) so Numba drops its negative-index wraparound check, which otherwise
doubles the time of these loops; the loop bounds keep every index in range.
"""
from __future__ import annotations

import numba
import numpy as np

from ...process import OPENMP_SPINS

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
JIT = dict(cache=True, parallel=True, fastmath=False)
# The same loops compiled for the calling thread alone (prange runs as range), free of the GIL:
# what the convolution's worker threads run (``threads.py``).
ONE_THREAD = dict(cache=True, parallel=False, nogil=True, fastmath=False)
u = np.uint64

# Below this many elements a kernel runs on the calling thread alone: waking the other threads
# costs more than it saves, and on a busy machine one descheduled worker stalls a tiny call for
# a whole time slice (measured: 16 ms instead of 18 us under load).
PARALLEL_WORK = 1 << 16


def run(kernel, work: int, *args):
    """kernel(*args), on one thread when ``work`` (elements touched) is small, or when the
    OpenMP runtime's idle threads spin (``minidl.process.OPENMP_SPINS``)."""
    if work >= PARALLEL_WORK and not OPENMP_SPINS:
        return kernel(*args)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(threads)


def float_array(a, name: str, fn: str, ndim: tuple[int, ...] | None) -> np.ndarray:
    """``a`` as a C-contiguous float32/float64 NumPy array with one of the allowed ndims (None:
    any)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype not in FLOATS:
        raise TypeError(f"{fn}: {name} must be float32 or float64, got {a.dtype}")
    if ndim is not None and a.ndim not in ndim:
        want = " or ".join(f"{d}-d" for d in ndim)
        raise ValueError(f"{fn}: {name} must be {want}, got shape {a.shape}")
    return np.ascontiguousarray(a)

