"""Convolution and max-pooling, forward and backward, for every implementation in one run.

    python benchmarks/conv_kernels.py [--repeat 5] [--quick] [--out benchmarks/results]

Cases: the lab's two conv layers (batch 128), a ResNet-20 3x3 layer (64 -> 64 channels) on 8x8
and 32x32 maps, and the lab's two 2x2 max-pools. Contenders: minidl's NumPy reference, minidl with
its Numba kernels, minidl on the GPU (CuPy reference code path, and CuPy kernels) when there is
one, and PyTorch (CPU, and cuDNN on the GPU) as the outside reference when it is installed.
Writes conv_kernels.json and conv_kernels.png: milliseconds, GFLOP/s and ratios.

An im2col convolution's forward pass is one matrix product plus the copying into columns, so on
the CPU each case also times NumPy's float32 GEMM on that layer's own product, alternating with
each forward pass ("fwd / GEMM": the share of the GEMM's speed the whole forward pass keeps; above
1 for minidl's 3x3 layers, whose Winograd products do 2.25x fewer multiply-adds than that GEMM).
This machine's speed drifts by tens of percent within minutes, so a ceiling timed apart would
mislead.
"""
from __future__ import annotations

import minidl  # noqa: F401  before NumPy, so its thread-pool settings take effect (minidl/__init__.py)

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import (RESULTS, contenders, machine, print_table, time_alternating, time_call,  # noqa: E402
                     torch_or_none, write_json)

from minidl import Tensor, kernels  # noqa: E402
from minidl import functional as F  # noqa: E402
from minidl.functional import conv_output_shape  # noqa: E402

CASES = [
    # name, kind, input shape, weight shape (or pool kernel), padding
    ("lab conv1 1->16 5x5 @28", "conv", (128, 1, 28, 28), (16, 1, 5, 5), 2),
    ("lab conv2 16->32 5x5 @14", "conv", (128, 16, 14, 14), (32, 16, 5, 5), 2),
    ("resnet 64->64 3x3 @8", "conv", (128, 64, 8, 8), (64, 64, 3, 3), 1),
    ("resnet 64->64 3x3 @32", "conv", (128, 64, 32, 32), (64, 64, 3, 3), 1),
    ("lab pool1 2x2 @28", "pool", (128, 16, 28, 28), 2, 0),
    ("lab pool2 2x2 @14", "pool", (128, 32, 14, 14), 2, 0),
]


def conv_flops(x_shape, w_shape, padding):
    n, f, oh, ow = conv_output_shape(x_shape, w_shape, padding=padding)
    return 2.0 * n * f * oh * ow * w_shape[1] * w_shape[2] * w_shape[3]


def minidl_runner(kind, x, w, padding, device, reference):
    """(forward, forward+backward) closures for minidl on a device."""
    xt = Tensor(x, requires_grad=True).to(device) if device == "cuda" else Tensor(x, requires_grad=True)
    wt = None
    if kind == "conv":
        wt = Tensor(w, requires_grad=True).to(device) if device == "cuda" else Tensor(w, requires_grad=True)
    xt = Tensor(xt.data, requires_grad=True)
    wt = Tensor(wt.data, requires_grad=True) if wt is not None else None

    def op():
        return F.conv2d(xt, wt, None, 1, padding) if kind == "conv" else F.max_pool2d(xt, w)

    def forward():
        with kernels.use_reference(reference), minidl.no_grad():
            op()

    def backward():
        with kernels.use_reference(reference):
            y = op()
            y.backward(y.data)   # any upstream gradient of y's shape
    return forward, backward


def torch_runner(kind, x, w, padding, device):
    torch = torch_or_none()
    dev = "cuda" if device == "torch-cuda" else "cpu"
    xt = torch.tensor(x, device=dev, requires_grad=True)
    wt = torch.tensor(w, device=dev, requires_grad=True) if kind == "conv" else None
    tf = torch.nn.functional

    def op():
        return tf.conv2d(xt, wt, None, 1, padding) if kind == "conv" else tf.max_pool2d(xt, w)

    def forward():
        with torch.no_grad():
            op()

    def backward():
        y = op()
        y.backward(y.detach())
    return forward, backward


def runner(name, kind, x, w, padding):
    if name == "numpy":
        return minidl_runner(kind, x, w, padding, "cpu", True)
    if name == "numba":
        return minidl_runner(kind, x, w, padding, "cpu", False)
    if name == "cupy-reference":
        return minidl_runner(kind, x, w, padding, "cuda", True)
    if name == "cupy":
        return minidl_runner(kind, x, w, padding, "cuda", False)
    return torch_runner(kind, x, w, padding, name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="batch 16 instead of 128 (a smoke run)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", nargs="*", help="contenders to run (default: all available)")
    args = parser.parse_args(argv)

    names = args.only or contenders()
    rng = np.random.default_rng(0)
    results = []
    for case_name, kind, x_shape, w_spec, padding in CASES:
        if args.quick:
            x_shape = (16,) + x_shape[1:]
        x = rng.standard_normal(x_shape, dtype=np.float32)
        w = rng.standard_normal(w_spec, dtype=np.float32) * 0.1 if kind == "conv" else w_spec
        flops = conv_flops(x_shape, w_spec, padding) if kind == "conv" else None
        gemm = gemm_runner(x_shape, w_spec, padding) if kind == "conv" else None
        for name in names:
            print(f"[{case_name}] {name} ...", flush=True)
            forward, backward = runner(name, kind, x, w, padding)
            device = "cuda" if name.startswith("cupy") else name
            gemm_ms = None
            if gemm and name in ("numpy", "numba"):
                fwd, gemm_ms = time_alternating([forward, gemm], args.repeat)
            else:
                fwd = time_call(forward, device, args.repeat)
            both = time_call(backward, device, args.repeat)
            results.append({"case": case_name, "kind": kind, "contender": name, "forward_ms": fwd,
                            "forward_backward_ms": both, "backward_ms": max(both - fwd, 0.0),
                            "forward_gflops": flops / fwd / 1e6 if flops else None,
                            "gemm_gflops": flops / gemm_ms / 1e6 if gemm_ms else None,
                            "batch": x_shape[0]})

    rows = [["case", "contender", "fwd ms", "fwd+bwd ms", "fwd GFLOP/s", "GEMM GFLOP/s", "fwd / GEMM",
             "fwd x numpy", "fwd+bwd x numpy", "fwd+bwd / torch"]]
    for r in results:
        ref = next((q for q in results if q["case"] == r["case"] and q["contender"] == "numpy"), None)
        torch_name = "torch-cuda" if r["contender"].startswith("cupy") else "torch-cpu"
        tref = next((q for q in results if q["case"] == r["case"] and q["contender"] == torch_name), None)
        r["speedup_vs_numpy_forward"] = ref["forward_ms"] / r["forward_ms"] if ref else None
        r["speedup_vs_numpy_forward_backward"] = ref["forward_backward_ms"] / r["forward_backward_ms"] if ref else None
        r["time_vs_torch_forward_backward"] = r["forward_backward_ms"] / tref["forward_backward_ms"] if tref else None
        fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
        rows.append([r["case"], r["contender"], fmt(r["forward_ms"], ".2f"), fmt(r["forward_backward_ms"], ".2f"),
                     fmt(r["forward_gflops"], ".1f"), fmt(r["gemm_gflops"], ".1f"),
                     fmt(r["gemm_gflops"] and r["forward_gflops"] / r["gemm_gflops"], ".2f"),
                     fmt(r["speedup_vs_numpy_forward"], ".2f"), fmt(r["speedup_vs_numpy_forward_backward"], ".2f"),
                     fmt(r["time_vs_torch_forward_backward"], ".2f")])
    print()
    print_table(rows)
    suffix = "_quick" if args.quick else ""
    tag = "_gpu" if any(n.startswith("cupy") for n in names) else ""
    path = write_json(args.out / f"conv_kernels{tag}{suffix}.json",
                      {"command": "python benchmarks/conv_kernels.py " + " ".join(argv or sys.argv[1:]),
                       "machine": machine(), "kernels": kernels.status(),
                       "results": results})
    print(f"\nwrote {path}")
    plot(results, args.out / f"conv_kernels{tag}{suffix}.png")


def gemm_runner(x_shape, w_shape, padding):
    """NumPy's float32 product (F, C*kh*kw) @ (C*kh*kw, N*OH*OW): the GEMM at the heart of an im2col
    forward pass of this layer, on random data; the ceiling for the whole pass."""
    rng = np.random.default_rng(1)
    n, f, oh, ow = conv_output_shape(x_shape, w_shape, padding=padding)
    _, c, kh, kw = w_shape
    positions = n * oh * ow
    a = rng.standard_normal((f, c * kh * kw), dtype=np.float32)
    b = rng.standard_normal((c * kh * kw, positions), dtype=np.float32)
    out = np.empty((f, positions), dtype=np.float32)
    return lambda: np.matmul(a, b, out=out)


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cases = list(dict.fromkeys(r["case"] for r in results))
    names = list(dict.fromkeys(r["contender"] for r in results))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        vals = [next((r["forward_backward_ms"] for r in results if r["case"] == c and r["contender"] == name), np.nan)
                for c in cases]
        ax.bar(np.arange(len(cases)) + i * width, vals, width, label=name)
    ax.set_xticks(np.arange(len(cases)) + 0.4 - width / 2, cases, rotation=15, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("forward + backward, ms (log scale)")
    ax.set_title("Convolution and max-pooling, batch %d" % results[0]["batch"])
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
