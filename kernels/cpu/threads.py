"""Work split over a few Python threads, one per core: how every CPU kernel uses every core
without handing them between thread pools.

A convolution alternates im2col and col2im (Numba) with matrix products (OpenBLAS), and each
library has its own pool of threads. Run one after the other, the pools hand the cores back and
forth a dozen times a layer, and an idle pool whose threads spin (an OpenMP runtime that
``import torch`` started, an OpenBLAS started before minidl set its timeout) steals the cores the
other needs. Here each worker thread takes a share of the images (``over_images``) and does all of
it alone: the Numba loops compiled for one thread (free of the GIL), and OpenBLAS held to one
thread while the shares run. The other kernels (batch norm, ReLU, pooling, the depthwise
convolution, im2col called alone) split their channels, planes or elements the same way
(``split``), so Numba's own thread pool never starts. No pool waits on another, whatever was
imported first.

``numba.set_num_threads`` sets how many shares (threadpoolctl's BLAS limit is saved and put back).
"""
from __future__ import annotations

import contextlib
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numba
from threadpoolctl import ThreadpoolController

from .common import PARALLEL_WORK

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()
_PREFIX = "minidl-worker"
_blas_lock = threading.Lock()
_blas_users = 0                 # blocks inside blas_on_one_thread, over every calling thread
_blas_counts: list[int] = []    # the thread counts the first of them found


def shares(n: int) -> int:
    """How many shares a batch of n images is split into: one per Numba thread, at most n."""
    return max(1, min(n, numba.get_num_threads()))


def over_images(job: Callable[[int, int], object], n: int) -> list:
    """[job(start, stop) for each share of range(n)], the first share on the calling thread and
    the others on worker threads, with BLAS on one thread meanwhile. Results in share order; the
    first error raised by a share is raised here, after every share has finished."""
    return _over_shares(job, n, blas_one_thread=True)


def split(kernel, n: int, work: int, *args) -> list:
    """[kernel(start, stop, *args) for each share of range(n)], run as ``over_images`` runs
    them, for the Numba loops compiled for one thread (batch norm's channels, ReLU's elements,
    max-pooling's planes): on one thread when ``work`` (elements touched) is below
    common.PARALLEL_WORK. Numba's own thread pool is not used, so an OpenMP runtime that another
    library left spinning cannot slow these down."""
    if work < PARALLEL_WORK:
        return [kernel(0, n, *args)]
    return _over_shares(lambda i, j: kernel(i, j, *args), n, blas_one_thread=False)


def _over_shares(job, n, blas_one_thread: bool):
    # On a worker thread already (a share that asks for shares), the whole range stays here:
    # waiting on the pool it is part of could wait for ever.
    parts = 1 if threading.current_thread().name.startswith(_PREFIX) else shares(n)
    if parts == 1:
        return [job(0, n)]
    bounds = [n * k // parts for k in range(parts + 1)]
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
