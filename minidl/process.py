"""Process-wide settings that ``import minidl`` makes, whether it comes before NumPy or after.

Both are defaults: a user's own setting wins, and ``MINIDL_PROCESS_DEFAULTS=0`` skips them all.

OpenBLAS's threads. minidl's kernels run a share of the work on each thread of Numba's pool
(``kernels/cpu/threads.py``), with OpenBLAS held to one thread meanwhile; no OpenMP setting is
made (the pool and an OpenMP runtime loaded by torch keep libgomp's defaults). The products outside those
shares (a linear layer's) use OpenBLAS's pool, whose idle threads by default spin for a while
before sleeping, stealing the cores the next share needs. OPENBLAS_THREAD_TIMEOUT asks them to
sleep at once. OpenBLAS reads it when NumPy loads it, so when NumPy was imported first, OpenBLAS
is asked to re-read its environment and its threads are stopped, to start again with the short
timeout at the next product (``OPENBLAS_RESTARTED`` says whether that happened).

Large buffers. A training step allocates the same large arrays every time (the columns of a
convolution: 40 MB in the lab CNN) and frees them after the backward pass. glibc maps every
block over 32 MB (at most; its threshold adapts below that) straight from the system and unmaps it
when freed, so each step asks for fresh pages and the kernel zeroes them on first touch: the page
faults took about a fifth of the lab CNN's training step here.
Raising glibc's mmap and trim thresholds to 1 GB and 2 GB keeps freed blocks in the heap for the
next step. Only on glibc, and not when MALLOC_MMAP_THRESHOLD_ or GLIBC_TUNABLES is set.
"""
import ctypes
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # mallopt's parameter numbers (malloc.h)


def _openblas_threads_sleep_at_once() -> None:
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


def _keep_large_buffers() -> bool:
    """Ask glibc to keep freed blocks up to 1 GB for reuse; True if it agreed."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ \
            or "GLIBC_TUNABLES" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt       # the C library this process runs on
    except (OSError, AttributeError):              # not glibc: musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, 1 << 30)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 << 30))


def _restart_loaded_openblas() -> bool:
    """Make an OpenBLAS that NumPy already loaded take the new timeout; True if one did."""
    if "numpy" not in sys.modules:      # not loaded yet: it will read the environment itself
        return False
    from threadpoolctl import ThreadpoolController
    restarted = False
    for lib in ThreadpoolController().select(internal_api="openblas").lib_controllers:
        read_env = getattr(lib.dynlib, "openblas_read_env", None)
        shutdown = getattr(lib.dynlib, "blas_thread_shutdown_", None)
        if read_env is not None and shutdown is not None:
            read_env()                  # its copy of OPENBLAS_THREAD_TIMEOUT and the rest
            shutdown()                  # the next product starts fresh threads with it
            restarted = True
    return restarted


ENABLED = os.environ.get("MINIDL_PROCESS_DEFAULTS", "1").strip() not in {"0", "false", "no", "off"}
if ENABLED:
    _openblas_threads_sleep_at_once()
OPENBLAS_RESTARTED = ENABLED and _restart_loaded_openblas()
KEEPS_LARGE_BUFFERS = ENABLED and _keep_large_buffers()
