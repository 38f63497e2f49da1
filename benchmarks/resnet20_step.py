"""ResNet-20 and the lab CNN, minidl (Numba kernels) against PyTorch CPU, in both import orders.

    python benchmarks/resnet20_step.py [--repeat 10] [--threads 2] [--quick] [--out benchmarks/results]

Workloads, each timed as minidl's time / PyTorch's time, the two alternated in one process
(medians of ``--repeat`` rounds; the JSON keeps every sample), on the same architecture with the
same weights (copied from minidl into torch; the outputs are checked to agree to ~1e-4) and the
same random data:

    resnet20_train   ResNet-20 (option A) training step, batch 64: forward, cross-entropy,
                     backward, SGD with momentum 0.9, on CIFAR-shaped (64, 3, 32, 32) data
    resnet20_infer   ResNet-20 inference, batch 128, eval mode, under no_grad
    lab_cnn_train    the lab CNN (minidl.models.lab6_cnn, as in train_step.py), batch 128

Each workload is timed twice over: back to back (each call right after the other library's),
and settled, each call 20 ms after the one before. After a parallel region the OpenMP threads
of both libraries (torch's own libgomp, and the system's under Numba's pool) spin for a few ms
(libgomp's default), so back to back each call shares the cores with the other library's
spinning threads at its start; settled, neither does. Both are reported; neither changes a
library's settings.

Every process pins its thread pools at run time and reports them: torch.set_num_threads,
numba.set_num_threads and threadpoolctl's limit on the BLAS libraries (default 2 threads).

The script runs itself as child processes: ``--import-order minidl`` imports minidl before NumPy
and torch, ``--import-order numpy`` imports NumPy and torch first (as users do); "import order
cost" is minidl's time with NumPy first / its time with minidl first. Each child also prints
each dispatched op's share of minidl's ResNet-20 step and inference (``minidl.kernels.timing``;
the rest is the matrix products and element-wise arithmetic); the minidl-first one, what the
graph keeps for backward after a forward pass at batch 64, by op type (minidl.memory).

Memory per image: the peak RSS of a fresh process running three training steps at batch 64,
minus the same at batch 2, over 62 images, for minidl and for torch (``--memory-child``).
Writes resnet20_step.json with the command, the machine, the threads and every figure.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOADS = {"resnet20_train": "ResNet-20 training step, batch 64",
             "resnet20_infer": "ResNet-20 inference, batch 128, eval, no_grad",
             "lab_cnn_train": "lab CNN training step, batch 128"}
ORDERS = {"minidl": "minidl imported first", "numpy": "numpy and torch imported first"}
MEMORY_BATCHES = (2, 64)
# Longer than OpenMP threads spin after a parallel region (libgomp's default, a few ms): a call
# made sooner shares the cores with the other library's.
PAUSE_S = 0.02
AGREE_TOL = 1e-4


def ordered_imports(order: str):
    """Import minidl, NumPy and torch in the given order; returns (minidl, np, torch)."""
    if order == "minidl":
        import minidl
        import numpy as np
        import torch
    else:
        import numpy as np
        import torch
        import minidl
    import minidl.models  # noqa: F401
    import minidl.optim  # noqa: F401
    return minidl, np, torch


def pin_threads(n: int, torch=None, numba: bool = True) -> dict:
    """Set this process's thread pools (BLAS, and Numba's and torch's where used) to ``n``
    threads at run time; returns what each now has."""
    from threadpoolctl import threadpool_info, threadpool_limits
    report = {"requested": n}
    if numba:
        import numba
        numba.set_num_threads(n)
        report["numba"] = numba.get_num_threads()
    if torch is not None:
        torch.set_num_threads(n)
        report["torch"] = torch.get_num_threads()
    pin_threads.limiter = threadpool_limits(limits=n, user_api="blas")   # stays in force
    report["pools"] = [f"{p['internal_api']} {p['num_threads']} ({Path(p['filepath']).name})"
                       for p in threadpool_info()]
    return report


# ----- the workloads --------------------------------------------------------------------------
def cifar_data(np, batch, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, batch)


def lab_data(np, batch, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, batch)


def minidl_train_step(minidl, model, x, y):
    opt = minidl.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xt, F = minidl.Tensor(x), minidl.functional

    def step():
        opt.zero_grad()
        F.cross_entropy(model(xt), y).backward()
        opt.step()
    return step


def torch_train_step(torch, model, x, y):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype("int64"))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return step


def minidl_infer(minidl, model, x):
    xt = minidl.Tensor(x)

    def infer():
        with minidl.no_grad():
            return model(xt).data
    return infer


def torch_infer(torch, model, x):
    xt = torch.from_numpy(x)

    def infer():
        with torch.no_grad():
            return model(xt).numpy()
    return infer


def agreement(np, a, b) -> dict:
    """max |a - b| relative to max |b|: the two libraries' outputs for the same function."""
    diff = float(np.abs(a - b).max()) / max(float(np.abs(b).max()), 1e-30)
    return {"max_rel_diff": diff, "ok": diff <= AGREE_TOL}


def build(minidl, np, torch):
    """The three workloads' (minidl fn, torch fn), and the outputs' agreement checks."""
    import torch_twins
    models = {}
    for name, make, twin in (("resnet20_train", minidl.models.resnet20, torch_twins.cifar_resnet),
                             ("resnet20_infer", minidl.models.resnet20, torch_twins.cifar_resnet),
                             ("lab_cnn_train", minidl.models.lab6_cnn, torch_twins.lab6_cnn)):
        minidl.manual_seed(0)
        m, t = make(), twin(torch)
        torch_twins.copy_weights(torch, m, t)
        models[name] = (m, t)
    x64, y64 = cifar_data(np, 64)
    x128, _ = cifar_data(np, 128, seed=1)
    xl, yl = lab_data(np, 128)
    checks = {}
    mi, ti = models["resnet20_infer"]
    mi.eval()
    ti.eval()
    checks["resnet20 eval logits, batch 128"] = agreement(np, minidl_infer(minidl, mi, x128)(),
                                                          torch_infer(torch, ti, x128)())
    for key, name, x in (("resnet20 training-mode logits, batch 64", "resnet20_train", x64),
                         ("lab CNN training-mode logits, batch 128", "lab_cnn_train", xl)):
        m, t = models[name]
        with minidl.no_grad(), torch.no_grad():     # batch statistics; running ones move alike
            checks[key] = agreement(np, m(minidl.Tensor(x)).data, t(torch.from_numpy(x)).numpy())
    for key, c in checks.items():
        print(f"  outputs, {key}: max |diff| / max |torch| = {c['max_rel_diff']:.1e} "
              f"({'within' if c['ok'] else 'NOT within'} {AGREE_TOL:g})", flush=True)
    (m, t), (ml, tl) = models["resnet20_train"], models["lab_cnn_train"]
    fns = {"resnet20_train": (minidl_train_step(minidl, m, x64, y64), torch_train_step(torch, t, x64, y64)),
           "resnet20_infer": (minidl_infer(minidl, mi, x128), torch_infer(torch, ti, x128)),
           "lab_cnn_train": (minidl_train_step(minidl, ml, xl, yl), torch_train_step(torch, tl, xl, yl))}
    return fns, checks, models["resnet20_train"][0], (x64, y64)


# ----- profile and graph memory (minidl only) -------------------------------------------------
def op_profile(minidl, fn, repeat) -> dict:
    """ms per call of ``fn`` and {op: {"ms", "calls"}} per call, over ``repeat`` calls after one."""
    fn()
    with minidl.kernels.timing() as seconds:
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        total = time.perf_counter() - start
    ops = {op: {"ms": s / repeat * 1e3, "calls": seconds.calls[op] / repeat} for op, s in seconds.items()}
    return {"ms": total / repeat * 1e3, "ops": ops}


def print_profile(title, prof):
    from _timing import print_table
    rows = [[f"op ({title})", "calls", "ms", "share"]]
    for op, r in sorted(prof["ops"].items(), key=lambda kv: -kv[1]["ms"]):
        rows.append([op, f"{r['calls']:g}", f"{r['ms']:.1f}", f"{r['ms'] / prof['ms']:.0%}"])
    rest = prof["ms"] - sum(r["ms"] for r in prof["ops"].values())
    rows.append(["rest (matrix products, arithmetic)", "-", f"{rest:.1f}", f"{rest / prof['ms']:.0%}"])
    rows.append(["whole", "-", f"{prof['ms']:.1f}", "100%"])
    print()
    print_table(rows)


def forward_graph_memory(minidl, model, x, y) -> dict:
    """What minidl keeps for backward after one training-mode forward pass with grad."""
    from minidl.memory import graph_memory
    model.train()
    loss = minidl.functional.cross_entropy(model(minidl.Tensor(x)), y)
    return {"batch": len(x), **graph_memory(loss)}


def print_graph_memory(mem):
    from _timing import print_table
    mb = 1 / 2 ** 20
    rows = [[f"op type (kept for backward, batch {mem['batch']})", "functions", "saved MB", "inputs MB", "MB/image"]]
    for op, r in sorted(mem["by_op"].items(), key=lambda kv: -(kv[1]["saved_bytes"] + kv[1]["input_bytes"])):
        b = r["saved_bytes"] + r["input_bytes"]
        rows.append([op, r["functions"], f"{r['saved_bytes'] * mb:.1f}", f"{r['input_bytes'] * mb:.1f}",
                     f"{b * mb / mem['batch']:.2f}"])
    rows.append(["total", "-", "-", "-", f"{mem['total_bytes'] * mb / mem['batch']:.2f}"])
    print()
    print_table(rows)
    print(f"(leaves, not counted: {mem['leaves']['arrays']} parameter and input arrays, "
          f"{mem['leaves']['bytes'] * mb:.1f} MB)")


# ----- child processes ------------------------------------------------------------------------
def timing_child(args) -> dict:
    minidl, np, torch = ordered_imports(args.import_order)
    sys.path.insert(0, str(HERE))
    from _timing import alternating_samples, machine
    threads = pin_threads(args.threads, torch)
    tag = f"[{ORDERS[args.import_order]}]"
    print(f"{tag} threads: {threads}", flush=True)
    fns, checks, train_model, (x64, y64) = build(minidl, np, torch)
    out = {"import_order": args.import_order, "threads": threads, "machine": machine(),
           "kernels": minidl.kernels.status(), "agreement": checks, "workloads": {}}
    def timed(key, way, pause):
        report = lambda done, total: print(f"{tag} {WORKLOADS[key]}, {way}: round {done}/{total}",  # noqa: E731
                                           flush=True)
        m, t = alternating_samples(list(fns[key]), repeat=args.repeat, warmup=args.warmup, progress=report,
                                   pause_s=pause)
        m_ms, t_ms = statistics.median(m), statistics.median(t)
        print(f"{tag} {WORKLOADS[key]}, {way}: minidl {m_ms:.1f} ms ({min(m):.0f}-{max(m):.0f}), "
              f"torch {t_ms:.1f} ms ({min(t):.0f}-{max(t):.0f}), {m_ms / t_ms:.2f}x", flush=True)
        return {"minidl_ms": m_ms, "torch_ms": t_ms, "ratio": m_ms / t_ms, "minidl_samples_ms": m,
                "torch_samples_ms": t}

    for key in fns:
        out["workloads"][key] = {**timed(key, "back to back", 0.0),
                                 "settled": {**timed(key, "settled", PAUSE_S), "pause_s": PAUSE_S}}
    out["op_profile"] = {key: op_profile(minidl, fns[key][0], args.profile_repeat)
                         for key in ("resnet20_train", "resnet20_infer")}
    for key, prof in out["op_profile"].items():
        print_profile(f"{WORKLOADS[key]}, {ORDERS[args.import_order]}", prof)
    if args.import_order == "minidl":
        out["graph_memory"] = forward_graph_memory(minidl, train_model, x64, y64)
        print_graph_memory(out["graph_memory"])
    return out


def memory_child(args) -> dict:
    """Peak RSS (MB) of this fresh process after three ResNet-20 training steps at ``--batch``."""
    if args.memory_child == "minidl":
        import minidl
        import minidl.models
        import minidl.optim
        import numpy as np
        threads = pin_threads(args.threads)
        minidl.manual_seed(0)
        step = minidl_train_step(minidl, minidl.models.resnet20(), *cifar_data(np, args.batch))
    else:
        import numpy as np
        import torch
        sys.path.insert(0, str(HERE))
        import torch_twins
        threads = pin_threads(args.threads, torch, numba=False)
        torch.manual_seed(0)
        step = torch_train_step(torch, torch_twins.cifar_resnet(torch), *cifar_data(np, args.batch))
    for _ in range(3):
        step()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss     # kilobytes on Linux
    return {"lib": args.memory_child, "batch": args.batch, "peak_rss_mb": peak_kb / 1024, "threads": threads}


def spawn(flags: list[str], result: Path, quiet: bool = False) -> subprocess.Popen:
    cmd = [sys.executable, str(Path(__file__).resolve()), *flags, "--result-file", str(result)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL if quiet else None)


def collect(proc: subprocess.Popen, result: Path, what: str) -> dict:
    if proc.wait() != 0:
        sys.exit(f"resnet20_step.py: the child process for {what} failed (exit {proc.returncode}); "
                 f"its error is printed above")
    return json.loads(result.read_text())


# ----- the parent: run the children, report ---------------------------------------------------
def summarize(timings, memory) -> dict:
    a, b = timings["minidl"]["workloads"], timings["numpy"]["workloads"]
    cost = {k: {"minidl": b[k]["minidl_ms"] / a[k]["minidl_ms"], "torch": b[k]["torch_ms"] / a[k]["torch_ms"]}
            for k in WORKLOADS}
    per_image = {}
    for lib in ("minidl", "torch"):
        lo, hi = (memory[(lib, n)]["peak_rss_mb"] for n in MEMORY_BATCHES)
        per_image[lib] = {"peak_rss_mb": {str(n): memory[(lib, n)]["peak_rss_mb"] for n in MEMORY_BATCHES},
                          "mb_per_image": (hi - lo) / (MEMORY_BATCHES[1] - MEMORY_BATCHES[0])}
    per_image["minidl_over_torch"] = per_image["minidl"]["mb_per_image"] / per_image["torch"]["mb_per_image"]
    return {"import_order_cost": cost, "memory_per_image": per_image}


def print_summary(timings, summary, graph_mb_per_image):
    from _timing import print_table
    rows = [["workload", "minidl first: minidl ms", "torch ms", "ratio",
             "numpy first: minidl ms", "torch ms", "ratio", "import order cost (torch's)"]]
    for k, title in WORKLOADS.items():
        a, b = timings["minidl"]["workloads"][k], timings["numpy"]["workloads"][k]
        c = summary["import_order_cost"][k]
        rows.append([title, f"{a['minidl_ms']:.1f}", f"{a['torch_ms']:.1f}", f"{a['ratio']:.2f}x",
                     f"{b['minidl_ms']:.1f}", f"{b['torch_ms']:.1f}", f"{b['ratio']:.2f}x",
                     f"{c['minidl']:.2f} ({c['torch']:.2f})"])
    print("\nminidl's time / torch's time, alternated in one process, back to back (medians):")
    print_table(rows)
    rows = [["workload", "minidl first: minidl ms", "torch ms", "ratio", "numpy first: minidl ms", "torch ms", "ratio"]]
    for k, title in WORKLOADS.items():
        a, b = timings["minidl"]["workloads"][k]["settled"], timings["numpy"]["workloads"][k]["settled"]
        rows.append([title, f"{a['minidl_ms']:.1f}", f"{a['torch_ms']:.1f}", f"{a['ratio']:.2f}x",
                     f"{b['minidl_ms']:.1f}", f"{b['torch_ms']:.1f}", f"{b['ratio']:.2f}x"])
    print(f"\n... and settled: each call {1e3 * PAUSE_S:.0f} ms after the one before, once the other "
          "library's threads have stopped spinning:")
    print_table(rows)
    m = summary["memory_per_image"]
    rows = [["ResNet-20 training, 3 steps", f"peak RSS b={MEMORY_BATCHES[0]} MB", f"b={MEMORY_BATCHES[1]} MB", "MB/image"]]
    for lib in ("minidl", "torch"):
        p = m[lib]["peak_rss_mb"]
        rows.append([lib, f"{p[str(MEMORY_BATCHES[0])]:.0f}", f"{p[str(MEMORY_BATCHES[1])]:.0f}",
                     f"{m[lib]['mb_per_image']:.2f}"])
    print()
    print_table(rows)
    print(f"minidl / torch memory per image: {m['minidl_over_torch']:.2f}x; "
          f"the graph keeps {graph_mb_per_image:.2f} MB/image for backward")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="alternated rounds per workload")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--profile-repeat", type=int, default=5, help="steps timed op by op")
    parser.add_argument("--threads", type=int, default=2, help="threads for torch, Numba and BLAS")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds, 1 warm-up, 1 profiled step")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--import-order", choices=sorted(ORDERS), help="(child) time the workloads")
    parser.add_argument("--memory-child", choices=("minidl", "torch"), help="(child) peak RSS of 3 steps")
    parser.add_argument("--batch", type=int, default=64, help="(memory child) batch size")
    parser.add_argument("--result-file", type=Path, help="(child) where to write its JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.warmup, args.profile_repeat = 2, 1, 1
    if importlib.util.find_spec("torch") is None:
        sys.exit("resnet20_step.py: PyTorch is not installed; this benchmark measures minidl against it. "
                 "Install it into the venv (not a dependency of minidl): .venv/bin/pip install torch")
    if args.import_order or args.memory_child:
        result = timing_child(args) if args.import_order else memory_child(args)
        args.result_file.write_text(json.dumps(result))
        return
    child_flags = ["--repeat", str(args.repeat), "--warmup", str(args.warmup),
                   "--profile-repeat", str(args.profile_repeat), "--threads", str(args.threads)]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        timings = {}
        for order in ORDERS:                 # one at a time: they are timed
            path = Path(tmp) / f"timing_{order}.json"
            timings[order] = collect(spawn([*child_flags, "--import-order", order], path), path, ORDERS[order])
        print(f"\nmemory: 3 training steps in {2 * len(MEMORY_BATCHES)} fresh processes ...", flush=True)
        procs = {(lib, n): spawn(["--memory-child", lib, "--batch", str(n), "--threads", str(args.threads)],
                                 Path(tmp) / f"memory_{lib}_{n}.json", quiet=True)
                 for lib in ("minidl", "torch") for n in MEMORY_BATCHES}
        memory = {key: collect(p, Path(tmp) / f"memory_{key[0]}_{key[1]}.json", f"memory {key}")
                  for key, p in procs.items()}
    sys.path.insert(0, str(HERE))
    from _timing import machine, write_json
    summary = summarize(timings, memory)
    graph = timings["minidl"]["graph_memory"]
    print_summary(timings, summary, graph["total_bytes"] / 2 ** 20 / graph["batch"])
    path = write_json(args.out / "resnet20_step.json", {
        "command": "python benchmarks/resnet20_step.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(), "load_avg_1_5_15_min": {"start": load_before, "end": os.getloadavg()},
        "threads": {o: t["threads"] for o, t in timings.items()},
        "repeat": args.repeat, "warmup": args.warmup, "workloads": WORKLOADS, "timings": timings,
        **summary, "memory_runs": list(memory.values())})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
