"""How every CPU kernel uses every core: a share of the work per thread, each share run by a
Numba loop compiled for one thread.

A kernel is written for one thread over a range, ``kernel(start, stop, ...)``, and beside it its
launcher, the same call over a set of shares in one ``prange``:

    @njit(**SHARES)
    def _relu_forward_shares(bounds, *args):
        for s in prange(bounds.size - 1):
            _relu_forward(bounds[s], bounds[s + 1], *args)

``split(launcher, n, work, ...)`` cuts range(n) into one share per Numba thread and runs the
launcher on Numba's thread pool (OpenMP where Numba has it): handing a share to a thread takes a
few microseconds there, against about 90 for a Python thread, which must be woken and take the
GIL. Small work (below common.PARALLEL_WORK elements) runs on the calling thread alone. The
kernels that call BLAS (the convolutions' products) hold it to one thread meanwhile
(``blas_on_one_thread``), so that no share's product waits for BLAS's own threads.

Where Numba's pool cannot be used safely (its threading layer is ``workqueue``, which one Python
thread at a time may enter, or this process was forked from one that started the pool), and for
work that is Python code (``over_images``: the shares of a convolution written with NumPy's
products), the shares go to minidl's worker threads instead: the first share on the calling
thread, the others on one worker thread per core.

``numba.set_num_threads`` sets how many shares (threadpoolctl's BLAS limit is saved and put back).
"""
from __future__ import annotations

import contextlib
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numba
import numpy as np
from numba import njit, prange
from threadpoolctl import ThreadpoolController

from .common import PARALLEL_WORK, SHARES

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()
_PREFIX = "minidl-worker"
_blas_lock = threading.Lock()
_blas_users = 0                 # blocks inside blas_on_one_thread, over every calling thread
_blas_counts: list[int] = []    # the thread counts the first of them found


def _forget_the_parents_threads() -> None:
    """In a forked child: the worker threads (and any thread holding a lock) stayed behind in the
    parent, so start from nothing, as a fresh process would."""
    global _pool, _pool_size, _pool_lock, _blas_lock, _blas_users
    _pool, _pool_size, _blas_users = None, 0, 0
    _pool_lock, _blas_lock = threading.Lock(), threading.Lock()


os.register_at_fork(after_in_child=_forget_the_parents_threads)


def shares(n: int) -> int:
    """How many shares a batch of n images is split into: one per Numba thread, at most n."""
    return max(1, min(n, numba.get_num_threads()))


def share_bounds(n: int) -> np.ndarray:
    """The bounds of the shares of range(n): share s is [bounds[s], bounds[s + 1]). A kernel that
    sums each share's images apart (a filter's gradient) is split over range(bounds.size - 1),
    and takes its images from these."""
    parts = shares(n)
    return np.array([n * k // parts for k in range(parts + 1)])


def largest_share(n: int) -> int:
    """How many of range(n) the largest share holds (what a kernel sizes its scratch for)."""
    return -(-n // shares(n))


def over_images(job: Callable[[int, int], object], n: int) -> list:
    """[job(start, stop) for each share of range(n)], the first share on the calling thread and
    the others on worker threads, with BLAS on one thread meanwhile. Results in share order; the
    first error raised by a share is raised here, after every share has finished."""
    return _over_shares(job, n, blas_one_thread=True)


def split(launcher, n: int, work: int, *args, blas_one_thread: bool = False) -> None:
    """launcher(bounds, *args): ``kernel(start, stop, *args)`` for each share of range(n), on
    Numba's threads, or on the calling thread alone when ``work`` (elements touched) is below
    common.PARALLEL_WORK. blas_one_thread: BLAS runs each product on its calling thread meanwhile."""
    parts = 1 if work < PARALLEL_WORK else shares(n)
    if parts == 1 or threading.current_thread().name.startswith(_PREFIX):
        # The launcher's loop as Python, over one share: the kernel alone, on this thread.
        getattr(launcher, "py_func", launcher)(np.array([0, n]), *args)
        return
    with blas_on_one_thread() if blas_one_thread else contextlib.nullcontext():
        if numba_pool():
            launcher(share_bounds(n), *args)
        else:
            run = getattr(launcher, "py_func", launcher)
            _over_shares(lambda i, j: run(np.array([i, j]), *args), n, blas_one_thread=False)


@njit(**SHARES)
def _probe(bounds, out):
    for s in prange(bounds.size - 1):
        out[s] = bounds[s]


_pool_pid = None


def numba_pool() -> bool:
    """Whether ``split`` runs its shares on Numba's thread pool: its threading layer lets any
    thread launch work (OpenMP or TBB, not workqueue), and this process is the one that started
    it (a forked child would hang in OpenMP)."""
    global _pool_pid
    if _pool_pid is None:
        try:
            _probe(np.array([0, 1]), np.empty(1, dtype=np.int64))
            _pool_pid = os.getpid() if numba.threading_layer() in ("omp", "tbb") else -1
        except (ImportError, ValueError, RuntimeError):   # no threading layer could be loaded
            _pool_pid = -1
    return _pool_pid == os.getpid()


def _over_shares(job, n, blas_one_thread: bool):
    # On a worker thread already (a share that asks for shares), the whole range stays here:
    # waiting on the pool it is part of could wait for ever.
    parts = 1 if threading.current_thread().name.startswith(_PREFIX) else shares(n)
    if parts == 1:
        return [job(0, n)]
    bounds = share_bounds(n).tolist()
    with blas_on_one_thread() if blas_one_thread else contextlib.nullcontext():
        others = [_workers(parts - 1).submit(job, a, b) for a, b in zip(bounds[1:-1], bounds[2:])]
        try:
            first = job(bounds[0], bounds[1])
        finally:
            done = [f.exception() for f in others]          # wait for every share
    for error in done:
        if error is not None:
            raise error
    return [first, *(f.result() for f in others)]


def _workers(count: int) -> ThreadPoolExecutor:
    """The process's worker threads (made at the first use, grown when more are asked for)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool_size < count:
            old, _pool, _pool_size = _pool, ThreadPoolExecutor(count, thread_name_prefix=_PREFIX), count
            if old is not None:
                old.shutdown(wait=False)
        return _pool


@functools.cache
def _blas_libraries() -> tuple:
    return tuple(ThreadpoolController().select(user_api="blas").lib_controllers)


@contextlib.contextmanager
def blas_on_one_thread():
    """Inside the block every BLAS library NumPy loaded runs each product on its calling thread;
    the thread counts before are put back when the last block open, on any thread, closes (a
    thread leaving first must not hand BLAS its threads back while another still runs shares)."""
    global _blas_users, _blas_counts
    libs = _blas_libraries()
    with _blas_lock:
        if _blas_users == 0:
            _blas_counts = [lib.get_num_threads() for lib in libs]
            for lib in libs:
                lib.set_num_threads(1)
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                for lib, count in zip(libs, _blas_counts):
                    lib.set_num_threads(count)
