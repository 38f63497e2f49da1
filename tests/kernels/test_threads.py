"""How the CPU kernels share the cores (kernels/cpu/threads.py): on Numba's pool and on minidl's
worker threads, shares cover the range once, in order; small work stays on the calling thread;
an error in any worker share reaches the caller; BLAS gets its thread counts back."""
import threading
from unittest import mock

import numba
import numpy as np
import pytest
from numba import njit, prange

from minidl.kernels.cpu import threads
from minidl.kernels.cpu.common import ONE_THREAD, SHARES


@njit(**ONE_THREAD)
def _mark(start, stop, first, thread):
    for q in range(start, stop):
        first[q] = start
        thread[q] = numba.get_thread_id()


@njit(**SHARES)
def _mark_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _mark(bounds[s], bounds[s + 1], *args)


def marked(n, work, parts):
    """(first index of each element's share, the Numba thread that ran it) after split."""
    threads.numba_pool()            # get_thread_id needs the threading layer loaded, even on one thread
    first, thread = np.full(n, -1), np.full(n, -1)
    with mock.patch.object(threads, "shares", lambda m: max(1, min(m, parts))):
        threads.split(_mark_shares, n, work, first, thread)
    return first, thread


@pytest.mark.parametrize("n, parts", [(1, 3), (2, 2), (7, 3), (64, 2), (5, 5)])
def test_split_covers_the_range_once_in_order_on_numbas_threads(n, parts):
    first, thread = marked(n, threads.PARALLEL_WORK, parts)
    bounds = [n * k // min(n, parts) for k in range(min(n, parts) + 1)]
    assert first.tolist() == [a for a, b in zip(bounds, bounds[1:]) for _ in range(a, b)]
    if threads.numba_pool() and min(n, parts) > 1 and numba.get_num_threads() > 1:
        assert len(set(thread.tolist())) > 1            # the pool, not the calling thread alone


def test_small_work_runs_on_the_calling_thread_in_one_share():
    first, thread = marked(10, threads.PARALLEL_WORK - 1, 2)
    assert first.tolist() == [0] * 10 and set(thread.tolist()) == {numba.get_thread_id()}


def test_without_numbas_pool_split_runs_its_shares_on_the_worker_threads():
    """Where Numba's pool cannot be used (the workqueue layer, a forked child), each share is
    the launcher's loop run as Python over that share, on minidl's worker threads."""
    where = []

    def launcher(bounds, out):
        where.append((threading.current_thread().name, *bounds.tolist()))
        out[bounds[0]:bounds[1]] = bounds[0]

    out = np.full(6, -1)
    with mock.patch.object(threads, "numba_pool", lambda: False), \
            mock.patch.object(threads, "shares", lambda m: 2):
        threads.split(launcher, 6, threads.PARALLEL_WORK, out)
    assert out.tolist() == [0, 0, 0, 3, 3, 3]
    assert sorted(w[1:] for w in where) == [(0, 3), (3, 6)]
    assert any(name.startswith("minidl-worker") for name, *_ in where)


def test_kernels_that_call_blas_run_with_blas_on_one_thread_and_give_it_back():
    before, inside = blas_threads(), []
    with mock.patch.object(threads, "shares", lambda m: 2):
        threads.split(lambda bounds: inside.append(blas_threads()), 4, threads.PARALLEL_WORK,
                      blas_one_thread=True)
    assert inside and all(count == 1 for counts in inside for count in counts)
    assert blas_threads() == before


def test_a_forked_child_does_not_use_the_pool_its_parent_started():
    if not threads.numba_pool():
        pytest.skip(f"Numba's pool is not used here (threading layer: {numba.threading_layer()})")
    with mock.patch.object(threads.os, "getpid", lambda: -2):
        assert not threads.numba_pool()


def blas_threads():
    return [lib.get_num_threads() for lib in threads._blas_libraries()]


@pytest.mark.parametrize("n, parts", [(1, 3), (2, 2), (7, 3), (64, 2), (5, 5)])
def test_worker_shares_cover_the_batch_once_in_order(n, parts):
    seen = []
    with mock.patch.object(threads, "shares", lambda m: max(1, min(m, parts))):
        results = threads.over_images(lambda i, j: (seen.append((i, j)), (i, j))[1], n)
    assert [i for i, _ in results] == sorted(i for i, _ in results)
    assert results[0][0] == 0 and results[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(results, results[1:]))       # no gap, no overlap
    assert all(j > i for i, j in results) and sorted(seen) == results
    assert len(results) == min(n, parts)


def test_other_shares_run_on_worker_threads_with_blas_on_one_thread():
    before = blas_threads()
    where = {}

    def job(i, j):
        where[i] = (threading.current_thread().name, blas_threads())
        return i

    with mock.patch.object(threads, "shares", lambda m: 2):
        assert threads.over_images(job, 4) == [0, 2]
    assert where[0][0] == threading.current_thread().name
    assert where[2][0].startswith("minidl-worker")
    assert all(count == 1 for _, counts in where.values() for count in counts)
    assert blas_threads() == before


def test_an_error_in_a_worker_share_reaches_the_caller_after_every_share_finished():
    before = blas_threads()
    finished = []

    def job(i, j):
        if i > 0:
            raise ValueError(f"share {i}:{j} failed")
        finished.append(i)
        return i

    with mock.patch.object(threads, "shares", lambda m: 3), pytest.raises(ValueError, match="share 2:4"):
        threads.over_images(job, 6)
    assert finished == [0] and blas_threads() == before


def test_a_share_that_asks_for_shares_runs_them_itself():
    """split called from a worker thread (inside a share) runs its whole range there: waiting on
    the pool it belongs to could wait for ever."""
    inner = []

    def launcher(bounds):
        inner.append((threading.current_thread().name, *bounds.tolist()))

    with mock.patch.object(threads, "shares", lambda m: 2), mock.patch.object(threads, "PARALLEL_WORK", 0):
        threads.over_images(lambda i, j: threads.split(launcher, 10, 10) if i > 0 else None, 4)
    assert len(inner) == 1 and inner[0][0].startswith("minidl-worker") and inner[0][1:] == (0, 10)


def test_blas_gets_its_threads_back_only_when_the_last_of_overlapping_blocks_closes():
    """Two threads' blocks overlapping, the first to open closing first: BLAS must stay on one
    thread until the second closes, then have its count back (not the 1 the second one found)."""
    libs = threads._blas_libraries()
    original = blas_threads()
    for lib in libs:
        lib.set_num_threads(2)              # whatever the environment asked for: not 1
    try:
        first, second = threads.blas_on_one_thread(), threads.blas_on_one_thread()
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)
        assert all(count == 1 for count in blas_threads())
        second.__exit__(None, None, None)
        assert blas_threads() == [2] * len(libs)
    finally:
        for lib, count in zip(libs, original):
            lib.set_num_threads(count)


def _relu_in_child(queue):
    from minidl.kernels.cpu import activation
    x = np.linspace(-1, 1, 4 * threads.PARALLEL_WORK)
    queue.put(bool(np.array_equal(activation.relu_forward(x), np.maximum(x, 0))) and not threads.numba_pool())


def test_a_child_forked_after_the_pool_started_still_computes():
    """GNU OpenMP cannot be used in a child forked from a process that started its threads (the
    child hangs or aborts): there the shares go to minidl's worker threads, and come out right."""
    import multiprocessing
    if not threads.numba_pool():
        pytest.skip(f"Numba's pool is not used here (threading layer: {numba.threading_layer()})")
    fork = multiprocessing.get_context("fork")
    queue = fork.Queue()
    child = fork.Process(target=_relu_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0 and queue.get(timeout=5) is True
