"""One full training step of the lab's CNN (batch 128): forward, loss, backward, SGD update.

    python benchmarks/train_step.py [--repeat 5] [--batch 128] [--out benchmarks/results]

Contenders as in conv_kernels.py: minidl's NumPy reference, minidl with Numba kernels, minidl on
the GPU (CuPy reference code and CuPy kernels), and PyTorch on the CPU and GPU when installed,
all running the same architecture on the same data. Reports ms per step, images per second and
the ratio to PyTorch on the same device; writes train_step.json.

For minidl on the CPU it also times every dispatched op (``minidl.kernels.timing``: the
convolution's forward pass, im2col, col2im, max-pooling, batch norm, ReLU) within the step, by
op: which references are the step's bottlenecks, and what each kernel saves there. An op's time
leaves out the ops it calls: the reference conv2d_forward calls the im2col op, while the Numba
one runs its im2col kernel inside, so the Numba im2col row is "in its caller". The rest of a step
is the backward matrix products (the same BLAS calls for both) and element-wise arithmetic.
"""
from __future__ import annotations

import minidl  # noqa: F401  before NumPy, so its thread-pool settings take effect (minidl/__init__.py)

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import RESULTS, contenders, machine, print_table, time_call, torch_or_none, write_json  # noqa: E402

from minidl import Tensor, kernels, nn, optim  # noqa: E402
from minidl import functional as F  # noqa: E402


def lab_cnn():
    """The lab's network (lecture 003), as layers; minidl.models.lab6_cnn builds the same."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5, padding=2), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(7 * 7 * 32, 10))


def minidl_step(x, y, device, reference):
    minidl.manual_seed(0)
    model = lab_cnn().to(device)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xt = Tensor(x).to(device)
    yt = y if device == "cpu" else Tensor(y).to(device).data

    def step():
        with kernels.use_reference(reference):
            opt.zero_grad()
            F.cross_entropy(model(xt), yt).backward()
            opt.step()
    return step


def op_profile(step, repeat):
    """(ms per step, {op: ms per step}) over ``repeat`` steps after one warm-up step."""
    step()
    with kernels.timing() as seconds:
        start = time.perf_counter()
        for _ in range(repeat):
            step()
        total = time.perf_counter() - start
    return total / repeat * 1e3, {op: t / repeat * 1e3 for op, t in seconds.items()}


def print_profile(profiles):
    """The per-op table of the NumPy reference against the Numba kernels."""
    ref, fast = profiles.get("numpy"), profiles.get("numba")
    if not ref or not fast:
        return
    rows = [["op (per step)", "numpy ms", "share of numpy step", "numba ms", "speed-up"]]
    for op in sorted(ref["ops"], key=ref["ops"].get, reverse=True):
        r, f = ref["ops"][op], fast["ops"].get(op)
        rows.append([op, f"{r:.2f}", f"{r / ref['step_ms']:.0%}", "in its caller" if f is None else f"{f:.2f}",
                     "-" if f is None else f"{r / f:.1f}x"])
    rest = [p["step_ms"] - sum(p["ops"].values()) for p in (ref, fast)]
    rows.append(["rest (matrix products, arithmetic)", f"{rest[0]:.2f}", f"{rest[0] / ref['step_ms']:.0%}",
                 f"{rest[1]:.2f}", f"{rest[0] / rest[1]:.1f}x"])
    rows.append(["whole step", f"{ref['step_ms']:.2f}", "100%", f"{fast['step_ms']:.2f}",
                 f"{ref['step_ms'] / fast['step_ms']:.1f}x"])
    print()
    print_table(rows)


def torch_step(x, y, device):
    torch = torch_or_none()
    tnn = torch.nn
    torch.manual_seed(0)
    model = tnn.Sequential(
        tnn.Conv2d(1, 16, 5, padding=2), tnn.BatchNorm2d(16), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(16, 32, 5, padding=2), tnn.BatchNorm2d(32), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(7 * 7 * 32, 10)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xt, yt = torch.tensor(x, device=device), torch.tensor(y, device=device)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", nargs="*", help="contenders to run (default: all available)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x = rng.random((args.batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, args.batch)
    results, profiles = [], {}
    for name in args.only or contenders():
        print(f"{name} ...", flush=True)
        if name in ("numpy", "numba"):
            step, device = minidl_step(x, y, "cpu", name == "numpy"), "cpu"
        elif name.startswith("cupy"):
            step, device = minidl_step(x, y, "cuda", name == "cupy-reference"), "cuda"
        else:
            step, device = torch_step(x, y, "cuda" if name == "torch-cuda" else "cpu"), name
        ms = time_call(step, device, args.repeat, warmup=2)
        if name in ("numpy", "numba"):
            step_ms, ops = op_profile(step, args.repeat)
            profiles[name] = {"step_ms": step_ms, "ops": ops}
        results.append({"contender": name, "ms_per_step": ms, "images_per_s": args.batch / ms * 1e3})

    rows = [["contender", "ms/step", "images/s", "x numpy", "time / torch (same device)"]]
    ref = next((r for r in results if r["contender"] == "numpy"), None)
    for r in results:
        torch_name = "torch-cuda" if r["contender"].startswith("cupy") else "torch-cpu"
        t = next((q for q in results if q["contender"] == torch_name), None)
        r["speedup_vs_numpy"] = ref["ms_per_step"] / r["ms_per_step"] if ref else None
        r["time_vs_torch"] = r["ms_per_step"] / t["ms_per_step"] if t else None
        rows.append([r["contender"], f"{r['ms_per_step']:.1f}", f"{r['images_per_s']:.0f}",
                     "-" if ref is None else f"{r['speedup_vs_numpy']:.2f}",
                     "-" if t is None else f"{r['time_vs_torch']:.2f}"])
    print()
    print_table(rows)
    print_profile(profiles)
    tag = "_gpu" if any(r["contender"].startswith("cupy") for r in results) else ""
    path = write_json(args.out / f"train_step{tag}.json",
                      {"command": "python benchmarks/train_step.py " + " ".join(argv or sys.argv[1:]),
                       "batch": args.batch, "machine": machine(), "kernels": kernels.status(),
                       "results": results, "op_profile": profiles})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
