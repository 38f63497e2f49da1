"""Data-parallel training on two cores: images per second of the lab CNN and ResNet-20 with
1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x 1 thread (MPI, minidl.distributed).

    python benchmarks/distributed.py [--steps 20] [--rounds 3] [--quick] [--out benchmarks/results]

Each configuration runs in fresh processes with its threads pinned (OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS and NUMBA_NUM_THREADS set to 1 or 2): ``python distributed.py --worker`` for one
rank, ``mpiexec -n 2 python distributed.py --worker`` for two. A step is minidl.train.train_step
(forward, loss, backward, optimizer step; with two ranks the gradients are all-reduced inside
the step by DistributedOptimizer) on random images, SGD with momentum, float32.

The batch is what the same training would use: B images per rank, so 1 rank x 1 thread steps on
B, and both 2-core configurations step on a global batch of 2B (one process with 2B, or two
ranks with B each). Images per second = global batch / median step time (rank 0's clock, after
a barrier). Scaling efficiency = (2 ranks' images/s) / (2 x 1 rank x 1 thread's). The all-reduce's
share of a step is DistributedOptimizer.seconds_in_allreduce (packing, the MPI_Allreduce
including any wait for the other rank, unpacking) over the steps' time; the all-reduce alone
(after a barrier, no waiting) is timed on the same buffer as well.

The configurations run in turn, --rounds times (1x1, 1x2, 2x1, 1x1, ...), so that all of them see
the same moments of a machine whose load drifts; each figure is the median over the rounds.
"""
from __future__ import annotations

import minidl  # noqa: F401  before NumPy, so its thread-pool settings take effect

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import RESULTS, machine, print_table, write_json  # noqa: E402

from minidl import Tensor, distributed, optim  # noqa: E402
from minidl.models.lab6 import lab6_cnn  # noqa: E402
from minidl.models.resnet_cifar import resnet20  # noqa: E402
from minidl.train import train_step  # noqa: E402

MODELS = {"lab6": (lab6_cnn, (1, 28, 28), 64), "resnet20": (resnet20, (3, 32, 32), 32)}
CONFIGS = [("1 rank x 1 thread", 1, 1), ("1 rank x 2 threads", 1, 2), ("2 ranks x 1 thread", 2, 1)]
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS")


# ----- one rank -------------------------------------------------------------------------------
def worker(model_name: str, batch: int, steps: int, warmup: int) -> None:
    """Time `steps` training steps on this rank; rank 0 prints one JSON line."""
    comm = distributed.init()
    build, shape, _ = MODELS[model_name]
    minidl.manual_seed(0)
    model = build()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if comm.size > 1:
        opt = distributed.DistributedOptimizer(opt, comm, check_every=0)
    rng = np.random.default_rng(comm.rank)
    x = Tensor(rng.standard_normal((batch, *shape)).astype(np.float32))
    y = Tensor(rng.integers(0, 10, batch))
    model.train()
    for _ in range(warmup):
        train_step(model, opt, x, y)
    comm.barrier()
    reduce_before = getattr(opt, "seconds_in_allreduce", 0.0)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        train_step(model, opt, x, y)
        times.append(time.perf_counter() - t0)
    reduced = getattr(opt, "seconds_in_allreduce", 0.0) - reduce_before
    grads = sum(p.data.size for p in model.parameters())
    alone = allreduce_alone(comm, grads) if comm.size > 1 else None
    if comm.is_main:
        print(json.dumps({"step_ms": [t * 1e3 for t in times], "allreduce_s": reduced,
                          "allreduce_alone_ms": alone, "gradient_mb": grads * 4 / 1e6,
                          "ranks": comm.size, "numba_threads": _numba_threads()}), flush=True)


def allreduce_alone(comm, count: int, repeat: int = 20) -> float:
    """Median ms of one MPI_Allreduce of `count` float32 after a barrier (no waiting)."""
    buffer = np.ones(count, np.float32)
    times = []
    for _ in range(repeat):
        comm.barrier()
        t0 = time.perf_counter()
        comm.allreduce_(buffer, "sum")
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _numba_threads() -> int:
    import numba
    return numba.get_num_threads()


# ----- the driver -----------------------------------------------------------------------------
def mpiexec() -> str:
    found = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    if found is None:
        raise SystemExit("benchmarks/distributed.py: no mpiexec (pip install -e '.[distributed]')")
    return found


def run_once(model_name: str, ranks: int, threads: int, batch: int, steps: int, warmup: int) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1", **{v: str(threads) for v in THREAD_VARIABLES})
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--model", model_name,
               "--batch", str(batch), "--steps", str(steps), "--warmup", str(warmup)]
    if ranks > 1:
        command = [mpiexec(), "-n", str(ranks)] + command
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    median = statistics.median(result["step_ms"])
    global_batch = batch * ranks
    return {"ranks": ranks, "threads": threads, "batch_per_rank": batch,
            "global_batch": global_batch, "median_step_ms": median,
            "step_ms": result["step_ms"], "images_per_s": global_batch / median * 1e3,
            "allreduce_share": result["allreduce_s"] / (sum(result["step_ms"]) / 1e3),
            "allreduce_alone_ms": result["allreduce_alone_ms"],
            "gradient_mb": result["gradient_mb"], "numba_threads": result["numba_threads"],
            "thread_env": {v: str(threads) for v in THREAD_VARIABLES}}


def combine(runs: list[dict]) -> dict:
    """One configuration's rounds: the medians over rounds, and each round's images/s."""
    out = dict(runs[0])
    for key in ("median_step_ms", "images_per_s", "allreduce_share"):
        out[key] = statistics.median(r[key] for r in runs)
    if runs[0]["allreduce_alone_ms"] is not None:
        out["allreduce_alone_ms"] = statistics.median(r["allreduce_alone_ms"] for r in runs)
    out["images_per_s_by_round"] = [r["images_per_s"] for r in runs]
    out["step_ms"] = [r["step_ms"] for r in runs]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="runs of every configuration, in turn")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--quick", action="store_true", help="3 steps, 1 warm-up: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="lab6", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=64, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.model, args.batch, args.steps, args.warmup)
    steps, warmup, rounds = (3, 1, 1) if args.quick else (args.steps, args.warmup, args.rounds)
    load_before = os.getloadavg()
    results = {}
    for name in args.models:
        batch = MODELS[name][2]
        runs = [[run_once(name, ranks, threads, batch if ranks > 1 or threads == 1 else 2 * batch,
                          steps, warmup) for label, ranks, threads in CONFIGS]
                for _ in range(rounds)]
        rows = [combine([r[i] for r in runs]) | {"config": label}
                for i, (label, _, _) in enumerate(CONFIGS)]
        single, two_threads, two_ranks = rows
        results[name] = {
            "configs": rows,
            "speedup_2_ranks_vs_1x1": two_ranks["images_per_s"] / single["images_per_s"],
            "speedup_2_threads_vs_1x1": two_threads["images_per_s"] / single["images_per_s"],
            "scaling_efficiency": two_ranks["images_per_s"] / (2 * single["images_per_s"]),
            "2_ranks_vs_2_threads": two_ranks["images_per_s"] / two_threads["images_per_s"]}
        table = [["config", "global batch", "ms/step", "images/s", "all-reduce share", "all-reduce alone"]]
        for r in rows:
            table.append([r["config"], r["global_batch"], f"{r['median_step_ms']:.1f}",
                          f"{r['images_per_s']:.0f}", f"{r['allreduce_share']:.1%}",
                          "-" if r["allreduce_alone_ms"] is None else f"{r['allreduce_alone_ms']:.2f} ms"])
        print(f"\n{name}: gradients {rows[0]['gradient_mb']:.2f} MB")
        print_table(table)
        s = results[name]
        print(f"2 ranks: {s['speedup_2_ranks_vs_1x1']:.2f}x 1 rank x 1 thread (efficiency "
              f"{s['scaling_efficiency']:.0%}), {s['2_ranks_vs_2_threads']:.2f}x 1 rank x 2 threads")
    niceness = os.nice(0)
    command = " ".join(["python", "benchmarks/distributed.py", *sys.argv[1:]])
    payload = {"command": (f"nice -n {niceness} " if niceness else "") + command,
               "steps": steps, "warmup": warmup, "rounds": rounds, "machine": machine(),
               "load_average_before_after": [list(load_before), list(os.getloadavg())],
               "mpi": subprocess.run([mpiexec(), "--version"], capture_output=True,
                                     text=True).stdout.splitlines()[:2],
               "results": results}
    path = write_json(args.out / ("distributed_quick.json" if args.quick else "distributed.json"),
                      payload)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
