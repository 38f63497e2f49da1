"""``python -m minidl demo``: the quick start. Trains a small CNN on scikit-learn's bundled 8x8
digits (no download, well under a minute on a laptop), prints the test accuracy and saves the
plots into --out (default runs/demo). --quick (or MINIDL_DEMO_QUICK=1) runs a few seconds only.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from minidl.cli import train

# The recipe, checked by benchmarks/digits_cnn.py (>= 97% test accuracy).
EPOCHS, QUICK_EPOCHS, QUICK_LIMIT = 15, 2, 400


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs") / "demo")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_EPOCHS} epochs on {QUICK_LIMIT} images (a smoke test)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    quick = args.quick or os.environ.get("MINIDL_DEMO_QUICK", "") not in ("", "0")
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    argv = ["digits-cnn", "--dataset", "digits", "--optimizer", "adam", "--lr", "0.01",
            "--batch-size", "32", "--schedule", "cosine", "--seed", str(args.seed),
            "--out", str(args.out), "--epochs", str(QUICK_EPOCHS if quick else EPOCHS)]
    if quick:
        argv += ["--limit", str(QUICK_LIMIT)]
    print("minidl demo: a small CNN learns to read 8x8 handwritten digits", flush=True)
    return train.run(parser.parse_args(argv))
