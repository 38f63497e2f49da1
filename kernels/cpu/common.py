"""What every Numba kernel shares: compile options, the thread-count rule, the argument check.

The kernels read and write flat arrays that their wrappers allocate with NumPy: NumPy backs large
arrays with huge pages, which Numba's allocator does not (page faults made fresh outputs 5x slower
to fill). Every index is cast to unsigned (``u``) so Numba drops its negative-index wraparound
check, which otherwise doubles the time of these loops; the loop bounds keep every index in range.
"""
from __future__ import annotations

import numpy as np
from numba import njit

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# Every kernel is compiled for the calling thread alone, free of the GIL; its launcher, compiled
# with SHARES, runs it on a share of the work per thread of Numba's pool (``threads.py``).
ONE_THREAD = dict(cache=True, parallel=False, nogil=True, fastmath=False)
SHARES = dict(cache=True, parallel=True, nogil=True, fastmath=False)
u = np.uint64

# Below this many elements a kernel runs on the calling thread alone: waking the other threads
# costs more than it saves, and on a busy machine one descheduled worker stalls a tiny call for
# a whole time slice.
PARALLEL_WORK = 1 << 16


@njit(cache=True, nogil=True, inline="always")
def relu(v):
    """max(v, 0) as np.maximum(v, 0) computes it: +0 for -0, NaN kept."""
    return 0 if v <= 0 else v


@njit(cache=True, nogil=True, inline="always")     # into the caller: a call per plane costs 25-35%
def pad_plane(x, src, h, w, d, hp, wp, ph, pw):
    """The h x w plane of flat x at offset src -> the inside of d (hp x wp, flat) at (ph, pw),
    row by row, as much of it as d holds. d's border is the caller's: zeroed once, it stays
    the padding for every plane copied in after."""
    for y in range(min(h, hp - ph)):
        o, s = (y + ph) * wp + pw, src + y * w
        for q in range(min(w, wp - pw)):
            d[u(o + q)] = x[u(s + q)]


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

