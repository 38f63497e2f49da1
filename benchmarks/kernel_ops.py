"""Every Numba CPU kernel against its NumPy reference, on the shapes of a real training step.

    python benchmarks/kernel_ops.py [--repeat 7] [--out benchmarks/results]

One row per (kernel, shape): the reference's and the kernel's milliseconds (median of the
repeats, same arguments, same run) and the speed-up. Shapes: the lab CNN's layers at batch 128
(lecture 003) and a ResNet-20 3x3 layer, 64 -> 64 channels on 32x32 maps. Writes
kernel_ops.json. The kernels are checked equal to the references in tests/kernels.

Most of these ops do a few additions per element, so memory, not arithmetic, bounds them. Each
row therefore also gives the bytes the op must move at least (its arguments read once, its
results written once) and "x copy": the kernel's time over the time np.copy takes, in the same
run, to move as many bytes (an array of half that size read and written into a fresh array, as
the kernels write theirs). Near 1 the kernel runs at the speed of memory, and no kernel can be
much faster than that.
"""
from __future__ import annotations

import minidl  # noqa: F401  before NumPy, so its thread-pool settings take effect (minidl/__init__.py)

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import RESULTS, machine, print_table, time_call, write_json  # noqa: E402

from minidl.functional.activation import add_relu_forward, relu_backward, relu_forward  # noqa: E402
from minidl.functional.conv import col2im, im2col  # noqa: E402
from minidl.functional.norm import batch_norm_backward, batch_norm_forward_train  # noqa: E402
from minidl.functional.pool import max_pool2d_backward, max_pool2d_forward  # noqa: E402

CONVS = [  # name, input shape, kernel, padding
    ("lab conv1 5x5 @28", (128, 1, 28, 28), 5, 2),
    ("lab conv2 5x5 @14", (128, 16, 14, 14), 5, 2),
    ("resnet 3x3 @32", (128, 64, 32, 32), 3, 1),
]
MAPS = [("lab layer 1 (128, 16, 28, 28)", (128, 16, 28, 28)), ("lab layer 2 (128, 32, 14, 14)", (128, 32, 14, 14))]


def cases(rng):
    """(kernel, shape name, the arguments) for every measured call."""
    for name, shape, k, p in CONVS:
        x = rng.standard_normal(shape, dtype=np.float32)
        geometry = (k, k, (1, 1), (p, p), (1, 1))
        cols = im2col.reference(x, *geometry)
        yield "im2col", name, (x, *geometry)
        yield "col2im", name, (cols, shape, *geometry)
    for name, shape in MAPS:
        x = rng.standard_normal(shape, dtype=np.float32)
        out, argmax = max_pool2d_forward.reference(x, 2, 2, (2, 2), (0, 0))
        yield "max_pool2d_forward", name, (x, 2, 2, (2, 2), (0, 0))
        yield "max_pool2d_backward", name, (out, argmax, shape)
        yield "relu_forward", name, (x,)
        yield "relu_backward", name, (x, relu_forward.reference(x))
        yield "add_relu_forward", name, (x, x[::-1].copy())
        c = shape[1]
        gamma, beta = np.ones(c, np.float32), np.zeros(c, np.float32)
        _, _, _, xhat, inv_std = batch_norm_forward_train.reference(x, gamma, beta, 1e-5)
        yield "batch_norm_forward_train", name, (x, gamma, beta, 1e-5)
        yield "batch_norm_backward", name, (x, xhat, gamma, inv_std)


def copy_ms(nbytes: int, repeat: int) -> float:
    """Milliseconds np.copy takes to read nbytes / 2 and write them to a fresh array."""
    a = np.random.default_rng(1).standard_normal(max(1, nbytes // 8), dtype=np.float32)
    return time_call(lambda: np.copy(a), "cpu", repeat)


def bytes_moved(args, result) -> int:
    """The array arguments read once plus the results written once."""
    outs = result if isinstance(result, tuple) else (result,)
    return sum(a.nbytes for a in (*args, *outs) if isinstance(a, np.ndarray))


OPS = {op.name: op for op in (im2col, col2im, max_pool2d_forward, max_pool2d_backward, relu_forward,
                              relu_backward, add_relu_forward, batch_norm_forward_train,
                              batch_norm_backward)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = []
    for op, name, call_args in cases(np.random.default_rng(0)):
        reference, fast = OPS[op].reference, OPS[op].cpu
        print(f"[{op} {name}] ...", flush=True)
        ref_ms = time_call(lambda: reference(*call_args), "cpu", args.repeat)
        fast_ms = time_call(lambda: fast(*call_args), "cpu", args.repeat)
        moved = bytes_moved(call_args, fast(*call_args))
        copy = copy_ms(moved, args.repeat)
        results.append({"kernel": op, "shape": name, "reference_ms": ref_ms, "numba_ms": fast_ms,
                        "speedup": ref_ms / fast_ms, "bytes_moved": moved, "copy_ms": copy,
                        "numba_vs_copy": fast_ms / copy, "reference_vs_copy": ref_ms / copy})
    rows = [["kernel", "shape", "reference ms", "numba ms", "speed-up", "MB moved", "copy ms", "ref x copy",
             "numba x copy"]]
    rows += [[r["kernel"], r["shape"], f"{r['reference_ms']:.2f}", f"{r['numba_ms']:.2f}", f"{r['speedup']:.1f}x",
              f"{r['bytes_moved'] / 1e6:.0f}", f"{r['copy_ms']:.2f}", f"{r['reference_vs_copy']:.1f}",
              f"{r['numba_vs_copy']:.1f}"]
             for r in results]
    print()
    print_table(rows)
    path = write_json(args.out / "kernel_ops.json",
                      {"command": "python benchmarks/kernel_ops.py " + " ".join(argv or sys.argv[1:]),
                       "machine": machine(), "results": results})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
