"""What the ranks of an MPI job run for tests/distributed/test_mpi.py:

    mpiexec -n 2 python tests/distributed/workers.py OUT SCENARIO [SCENARIO ...]

Each scenario writes this rank's results into OUT (rank<r>_<scenario>.json / .npz); the tests
compare them with each other and with the same training run in one process (the helpers below
build the same model, data and optimizer there). Float64 throughout, no dropout.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import minidl
from minidl import distributed, nn, optim
from minidl import functional as F
from minidl.data import DataLoader
from minidl.train import evaluate, fit, train_step

N, N_VAL, SIDE, CLASSES = 48, 11, 8, 3
BATCH = 4             # per rank; the one-process reference takes size x BATCH
SHUFFLE_SEED = 3


def data(n: int = N, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, SIDE, SIDE)), rng.integers(0, CLASSES, n)


def model() -> nn.Module:
    """conv -> BN2d -> ReLU -> pool -> linear -> BN1d -> ReLU -> linear, float64, seeded."""
    minidl.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 8), nn.BatchNorm1d(8),
                         nn.ReLU(), nn.Linear(8, CLASSES)).double()


def optimizer(net) -> optim.Optimizer:
    return optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)


def history_numbers(history) -> dict:
    return {"train_loss": history.train_loss, "val_loss": history.val_loss,
            "train_acc": history.train_acc, "val_acc": history.val_acc,
            "iteration_loss": history.iteration_loss}


# ----- scenarios: each takes (comm, out) ------------------------------------------------------
def gradients(comm, out: Path) -> dict:
    """Rank-filled gradients averaged: rank r's grads are (r + 1) x a pattern."""
    p32 = nn.Parameter(np.zeros(5, np.float32))
    p64 = nn.Parameter(np.zeros((2, 3)))
    only_rank1 = nn.Parameter(np.zeros(2))
    nowhere = nn.Parameter(np.zeros(1))
    opt = distributed.DistributedOptimizer(optim.SGD([p32, p64, only_rank1, nowhere], lr=1.0),
                                           comm, check_every=0)
    p32.grad = np.full(5, comm.rank + 1, np.float32)
    p64.grad = np.arange(6.0).reshape(2, 3) * (comm.rank + 1)
    only_rank1.grad = np.full(2, 4.0) if comm.rank == 1 else None
    opt.allreduce_gradients()
    sync = opt.sync
    return {"p32": p32.grad.tolist(), "p32_dtype": str(p32.grad.dtype), "p64": p64.grad.tolist(),
            "only_rank1": only_rank1.grad.tolist(), "nowhere_is_none": nowhere.grad is None,
            "all_rank0": sync.all(comm.rank == 0), "all_true": sync.all(True),
            "same_rank": sync.same(comm.rank), "same_5": sync.same(5),
            "sum": sync.sum([1.0, comm.rank]).tolist(),
            "gather": sync.gather(np.arange(comm.rank + 1)).tolist()}


def equivalence(comm, out: Path) -> dict:
    """fit on shards with SyncBatchNorm: 2 epochs with a checkpoint, then resumed to 3."""
    net = distributed.convert_sync_batchnorm(model(), comm)
    opt = distributed.DistributedOptimizer(optimizer(net), comm, check_every=1)
    distributed.broadcast(net, comm)
    x, y = data()
    xv, yv = data(N_VAL, seed=1)
    train = distributed.ShardedLoader(x, y, BATCH, comm, shuffle=True, seed=SHUFFLE_SEED)
    val = distributed.ShardedLoader(xv, yv, 5, comm, pad=False)
    checkpoint = out / "checkpoint.npz"
    two = fit(net, opt, train, val, epochs=2, checkpoint=checkpoint, progress=False)
    np.savez(out / f"rank{comm.rank}_epoch2.npz", **net.state_dict())
    three = fit(net, opt, train, val, epochs=3, resume=checkpoint, progress=False)
    np.savez(out / f"rank{comm.rank}_epoch3.npz", **net.state_dict())
    return {"epoch2": history_numbers(two), "epoch3": history_numbers(three),
            "steps": opt.steps, "batches_per_epoch": len(train)}


def diverge(comm, out: Path) -> dict:
    """Rank 1's loss becomes infinite on the second batch: both ranks stop there together."""
    net = model()
    opt = distributed.DistributedOptimizer(optimizer(net), comm)
    calls = []

    def loss(outputs, targets):
        calls.append(1)
        value = F.cross_entropy(outputs, targets)
        return value * float("inf") if comm.rank == 1 and len(calls) == 2 else value

    x, y = data()
    train = distributed.ShardedLoader(x, y, BATCH, comm, shuffle=True, seed=SHUFFLE_SEED)
    history = fit(net, opt, train, epochs=2, loss=loss, progress=False)
    return {"stop_reason": history.stop_reason, "epochs": len(history),
            "iteration_loss": history.iteration_loss, "steps": opt.steps}


def drift(comm, out: Path) -> dict:
    """Rank 1 nudges one weight by 1e-12 after step 2; the check after step 3 catches it."""
    net = model()
    opt = distributed.DistributedOptimizer(optimizer(net), comm, check_every=1)
    x, y = data()
    message = None
    try:
        for step, (xb, yb) in enumerate(distributed.ShardedLoader(x, y, BATCH, comm), start=1):
            train_step(net, opt, minidl.Tensor(xb), minidl.Tensor(yb))
            if step == 2 and comm.rank == 1:
                net[5].weight.data[0, 0] += 1e-12
    except distributed.ReplicaDriftError as err:
        message = str(err)
    return {"message": message, "steps": opt.steps}


def evaluation(comm, out: Path) -> dict:
    """evaluate on uneven shards (5 and 6 samples) against evaluate on all on every rank."""
    net = model()
    xv, yv = data(N_VAL, seed=1)
    sharded = evaluate(net, distributed.ShardedLoader(xv, yv, 4, comm, pad=False),
                       sync=distributed.ReplicaSync(comm))
    whole = evaluate(net, DataLoader(xv, yv, 4))
    return {"loss_diff": abs(sharded["loss"] - whole["loss"]),
            "same": all(np.array_equal(sharded[k], whole[k]) for k in
                        ("predictions", "targets", "confusion_matrix")),
            "accuracy": [sharded["accuracy"], whole["accuracy"]],
            "num_samples": sharded["num_samples"]}


def plain_versus_size1(comm, out: Path) -> dict:
    """A job of one rank: DistributedOptimizer + ShardedLoader against plain fit, float32."""
    def run(distributed_run: bool):
        minidl.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                            nn.Flatten(), nn.Linear(256, CLASSES))
        opt = optim.Adam(net.parameters(), lr=1e-2)
        x, y = data()
        x = x.astype(np.float32)
        if distributed_run:
            opt = distributed.DistributedOptimizer(opt, comm)
            loader = distributed.ShardedLoader(x, y, 8, comm, shuffle=True, seed=1)
        else:
            loader = DataLoader(x, y, 8, shuffle=True, seed=1)
        history = fit(net, opt, loader, epochs=2, progress=False)
        return net.state_dict(), history
    (mine, h1), (plain, h2) = run(True), run(False)
    return {"size": comm.size, "equal": all(np.array_equal(mine[k], plain[k]) for k in plain),
            "history_equal": h1.to_dict()["epochs"][0]["train_loss"] == h2.train_loss[0]
            and h1.iteration_loss == h2.iteration_loss}


def fail(comm, out: Path) -> dict:
    """Rank 1 raises after the first step while rank 0 goes on into the next all-reduce."""
    net = model()
    opt = distributed.DistributedOptimizer(optimizer(net), comm)
    x, y = data()
    for step, (xb, yb) in enumerate(distributed.ShardedLoader(x, y, BATCH, comm), start=1):
        if step == 2 and comm.rank == 1:
            raise ValueError("a planted failure on rank 1")
        train_step(net, opt, minidl.Tensor(xb), minidl.Tensor(yb))
    return {}


def gpu(comm, out: Path) -> dict:
    """CuPy arrays through host memory (MPICommunicator): averaged gradients, and the
    equivalence run's first 2 epochs trained with device='cuda'; NCCL where each rank has a GPU
    of its own (a job of one rank on a machine with one GPU)."""
    import cupy
    distributed.use_local_gpu(comm)
    p = nn.Parameter(cupy.zeros(3, dtype=cupy.float32))
    opt = distributed.DistributedOptimizer(optim.SGD([p], lr=1.0), comm, check_every=0)
    p.grad = cupy.full(3, comm.rank + 1, dtype=cupy.float32)
    opt.allreduce_gradients()
    result = {"mean": cupy.asnumpy(p.grad).tolist(), "is_cupy": isinstance(p.grad, cupy.ndarray)}
    net = distributed.convert_sync_batchnorm(model(), comm)
    opt = distributed.DistributedOptimizer(optimizer(net), comm, check_every=1)
    x, y = data()
    xv, yv = data(N_VAL, seed=1)
    train = distributed.ShardedLoader(x, y, BATCH, comm, shuffle=True, seed=SHUFFLE_SEED)
    val = distributed.ShardedLoader(xv, yv, 5, comm, pad=False)
    history = fit(net, opt, train, val, epochs=2, progress=False, device="cuda")
    np.savez(out / f"rank{comm.rank}_gpu_epoch2.npz", **net.state_dict())
    result["val_loss"] = history.val_loss
    if cupy.cuda.runtime.getDeviceCount() >= comm.size:
        from minidl.distributed.nccl import NCCLCommunicator
        nccl = NCCLCommunicator()
        a = cupy.arange(4.0) * (comm.rank + 1)
        nccl.allreduce_(a, "sum")
        b = cupy.full(2, float(comm.rank))
        nccl.bcast_(b, 0)
        result["nccl"] = {"sum": cupy.asnumpy(a).tolist(), "bcast": cupy.asnumpy(b).tolist()}
    return result


SCENARIOS = {f.__name__: f for f in (gradients, equivalence, diverge, drift, evaluation,
                                      plain_versus_size1, fail, gpu)}


def main(argv) -> None:
    out, names = Path(argv[0]), argv[1:]
    comm = distributed.init()
    for name in names:
        result = SCENARIOS[name](comm, out)
        result["rank"], result["size"] = comm.rank, comm.size
        path = out / f"rank{comm.rank}_{name}.json"
        path.write_text(json.dumps(result))
    print(f"rank {comm.rank} of {comm.size}: done {' '.join(names)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
