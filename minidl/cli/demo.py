"""``python -m minidl demo``: the quick start. Trains a small CNN on scikit-learn's bundled 8x8
digits (no download, well under a minute on a laptop), prints the test accuracy and saves the
plots into --out (default runs/demo). --quick (or MINIDL_DEMO_QUICK=1) runs a few seconds only.

The demo runs on one thread (BLAS and Numba): its 8x8 images are far too small to gain from
more, and on a busy machine extra threads that wait for each other made it 3-4x slower.
"""
from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from threadpoolctl import threadpool_limits

from minidl.cli import train

# The recipe, checked by benchmarks/digits_cnn.py (>= 97% test accuracy).
EPOCHS, QUICK_EPOCHS, QUICK_LIMIT = 15, 2, 400


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs") / "demo")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_EPOCHS} epochs on {QUICK_LIMIT} images (a smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    quick = args.quick or os.environ.get("MINIDL_DEMO_QUICK", "") not in ("", "0")
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    argv = ["digits-cnn", "--dataset", "digits", "--optimizer", "adam", "--lr", "0.01",
            "--batch-size", "32", "--schedule", "cosine", "--seed", str(args.seed),
            "--out", str(args.out), "--epochs", str(QUICK_EPOCHS if quick else EPOCHS)]
    if quick:
        argv += ["--limit", str(QUICK_LIMIT)]
    if args.quiet:
        argv.append("--quiet")
    print("minidl demo: a small CNN learns to read 8x8 handwritten digits", flush=True)
    with one_thread():
        return train.run(parser.parse_args(argv))


@contextlib.contextmanager
def one_thread():
    """Limit BLAS (threadpoolctl) and Numba to one thread inside the block, then restore."""
    try:
        import numba
    except ImportError:             # the engine then runs its NumPy reference code
        numba = None
    with threadpool_limits(1):
        threads = numba.get_num_threads() if numba else None
        if numba:
            numba.set_num_threads(1)
        try:
            yield
        finally:
            if numba:
                numba.set_num_threads(threads)
