"""Shared benchmark plumbing: timing with device synchronisation, the contenders, result files."""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from minidl import process

RESULTS = Path(__file__).resolve().parent / "results"


def synchronize(device: str) -> None:
    if device == "cuda":
        import cupy
        cupy.cuda.Device().synchronize()
    elif device == "torch-cuda":
        import torch
        torch.cuda.synchronize()


def time_call(fn, device: str, repeat: int = 5, warmup: int = 1, budget_s: float = 20.0) -> float:
    """Median wall time of fn() in milliseconds (after warm-up; fewer repeats if slow)."""
    for _ in range(warmup):
        fn()
        synchronize(device)
    times = []
    start = time.perf_counter()
    while len(times) < repeat and (len(times) < 2 or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def time_alternating(fns, repeat: int = 5, warmup: int = 1, progress=None) -> list[float]:
    """Median wall time in milliseconds of each CPU function in ``fns``, called in turn, so that
    all of them see the same moments of a machine whose speed drifts. ``progress(done, repeat)``,
    if given, is called after each round."""
    return [statistics.median(s) for s in alternating_samples(fns, repeat, warmup, progress)]


def alternating_samples(fns, repeat: int = 5, warmup: int = 1, progress=None,
                        pause_s: float = 0.0) -> list[list[float]]:
    """time_alternating's samples: for each function, its ``repeat`` wall times in milliseconds.
    With ``pause_s`` each call waits that long first, untimed, so that it does not start while
    the threads of the call before it (another library's) still spin."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    for k in range(repeat):
        for fn, samples in zip(fns, times):
            if pause_s:
                time.sleep(pause_s)
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1e3)
        if progress is not None:
            progress(k + 1, repeat)
    return times


def torch_or_none():
    """PyTorch if installed, set to strict float32 on the GPU (TF32 off, like minidl's cuBLAS
    products) with cuDNN free to pick its fastest algorithm for each shape."""
    try:
        import torch
    except ImportError:
        return None
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    return torch


def contenders(include_reference: bool = True) -> list[str]:
    """The implementations this machine can run, slowest reference first."""
    from minidl.backend import cuda_available
    names = ["numpy"] if include_reference else []
    names.append("numba")
    torch = torch_or_none()
    if torch is not None:
        names.append("torch-cpu")
    if cuda_available():
        names += ["cupy-reference", "cupy"]
        if torch is not None and torch.cuda.is_available():
            names.append("torch-cuda")
    return names


def machine() -> dict:
    info = {"python": sys.version.split()[0], "numpy": np.__version__, "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "threads_env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                           "NUMBA_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT",
                                                           "OMP_WAIT_POLICY", "CUPY_TF32")},
            "keeps_large_buffers": process.KEEPS_LARGE_BUFFERS}
    try:
        from threadpoolctl import threadpool_info
        info["blas_threads"] = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    except ImportError:
        pass
    torch = torch_or_none()
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["torch_cuda_math"] = "float32 (TF32 off), cudnn.benchmark on"
    try:
        import numba
        info["numba"] = numba.__version__
        info["numba_threads"] = numba.get_num_threads()
        from minidl.kernels.cpu import threads
        info["numba_pool"] = (f"{numba.threading_layer()} (minidl's kernels use it)" if threads.numba_pool()
                              else "not used: minidl's worker threads")
    except ImportError:
        pass
    from minidl.backend import cuda_available
    if cuda_available():
        import cupy
        info["cupy"] = cupy.__version__
        info["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    return info


def write_json(path: Path, payload: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for k, r in enumerate(rows):
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            print("  ".join("-" * w for w in widths))
