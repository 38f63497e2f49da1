"""The CPU convolution's worker threads (kernels/cpu/threads.py): shares cover the batch once, in
order; an error in any share reaches the caller; BLAS gets its thread counts back."""
import threading
from unittest import mock

import pytest

from minidl.kernels.cpu import threads


def blas_threads():
    return [lib.get_num_threads() for lib in threads._blas_libraries()]


@pytest.mark.parametrize("n, parts", [(1, 3), (2, 2), (7, 3), (64, 2), (5, 5)])
def test_shares_cover_the_batch_once_in_order(n, parts):
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

    def kernel(start, stop):
        inner.append((threading.current_thread().name, start, stop))

    with mock.patch.object(threads, "shares", lambda m: 2), mock.patch.object(threads, "PARALLEL_WORK", 0):
        threads.over_images(lambda i, j: threads.split(kernel, 10, 10) if i > 0 else None, 4)
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
