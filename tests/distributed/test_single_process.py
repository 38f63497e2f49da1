"""minidl.distributed without MPI: the size-1 communicator, the sharding of the data by rank
(with stand-in ranks: only their rank and size matter), SyncBatchNorm's forward and backward,
the optimizer wrapper against the optimizer it wraps, the drift checksums, the abort path."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
from minidl import Tensor, distributed, gradcheck, nn, optim
from minidl import functional as F
from minidl.data import DataLoader
from minidl.distributed import (DistributedOptimizer, ShardedLoader, SingleProcess, SyncBatchNorm,
                                convert_sync_batchnorm, shard_indices)
from minidl.distributed.batchnorm import SyncBatchNormOp
from minidl.distributed.replicas import checksums
from minidl.train import fit
from minidl.train.sync import LOCAL, sync_of


class StandIn(SingleProcess):
    """Rank `rank` of `size` for code that only reads rank and size (and broadcasts a seed)."""

    def __init__(self, rank, size):
        self.rank, self.size = rank, size

    def bcast_object(self, obj, root=0):
        return 12345 if obj is not None else obj

    def abort(self, code=1):
        raise RuntimeError(f"abort({code})")


def test_import_and_init_outside_mpiexec_load_no_mpi():
    code = ("import sys, json, minidl.distributed as d; comm = d.init(); "
            "print(json.dumps([comm.size, comm.rank, type(comm).__name__, 'mpi4py' in sys.modules]))")
    env = {k: v for k, v in os.environ.items() if k not in distributed.job.LAUNCHER_VARIABLES}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env)
    assert json.loads(out.stdout.splitlines()[-1]) == [1, 0, "SingleProcess", False]


def test_under_mpiexec_reads_the_launchers_variables():
    assert not distributed.under_mpiexec({"HOME": "/root"})
    for name in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK"):
        assert distributed.under_mpiexec({name: "0"})
    with pytest.raises(ValueError, match="backend must be 'mpi' or 'nccl'"):
        distributed.init("gloo")


def test_the_size1_communicator_is_the_identity():
    comm = SingleProcess()
    a = np.arange(4.0)
    assert comm.allreduce_(a, "max") is a and comm.bcast_(a) is a
    assert comm.allgather(a).shape == (1, 4) and np.array_equal(comm.allgatherv(a), a)
    assert comm.all(True) and not comm.all(False) and comm.is_main
    assert comm.sum([1.5, 2]).tolist() == [1.5, 2.0] and comm.bcast_object({"k": 1}) == {"k": 1}
    with pytest.raises(ValueError, match="reduction op must be one of"):
        comm.allreduce_(a, "mean")


@given(n=st.integers(1, 60), size=st.integers(1, 7), pad=st.booleans(), seed=st.integers(0, 9))
def test_shards_cover_the_order(n, size, pad, seed):
    """pad: equal lengths ceil(n/size), every index at least once, only the order's head
    repeated; no pad: the shards, in rank order, are the order itself."""
    order = np.random.default_rng(seed).permutation(n)
    shards = [shard_indices(order, r, size, pad) for r in range(size)]
    if pad:
        assert {len(s) for s in shards} == {-(-n // size)}
        everything = np.concatenate(shards)
        assert set(everything) == set(range(n))
        assert sorted(everything) == sorted(np.resize(order, len(everything)))
    else:
        assert np.array_equal(np.concatenate(shards), order)
        assert max(map(len, shards)) - min(map(len, shards)) <= 1


@pytest.mark.parametrize("size", [2, 3])
def test_the_ranks_batches_together_are_one_process_s_batch(size):
    """Batch t of ranks 0..S-1 (batch B each) holds the samples of batch t of DataLoader(batch
    S B) with the same seed, epoch after epoch: what makes S x B train like 1 x S B."""
    n, b = 36, 3
    x, y = np.arange(n, dtype=np.float64)[:, None], np.arange(n)
    ranks = [ShardedLoader(x, y, b, StandIn(r, size), shuffle=True, seed=7) for r in range(size)]
    whole = DataLoader(x, y, size * b, shuffle=True, seed=7)
    for _ in range(2):                                  # two epochs: fresh permutations
        together = zip(*ranks)
        for one, parts in zip(whole, together):
            assert sorted(one[1]) == sorted(np.concatenate([p[1] for p in parts]))
    assert len(ranks[0]) == len(whole)


def test_a_sharded_loader_checks_its_arguments_and_keeps_its_state():
    x, y = np.zeros((5, 2)), np.arange(5)
    with pytest.raises(ValueError, match="5 samples cannot be shared by 6 ranks"):
        ShardedLoader(x, y, 2, StandIn(0, 6))
    with pytest.raises(TypeError, match="pass comm="):
        ShardedLoader(x, y, 2)
    a = ShardedLoader(x, y, 2, StandIn(1, 2), shuffle=True, seed=3)
    list(a)
    b = ShardedLoader(x, y, 2, StandIn(0, 3), shuffle=True, seed=3)   # another world size
    b.load_state_dict(a.state_dict())
    assert b.epoch == 1 and np.array_equal(b.rng.permutation(5), a.rng.permutation(5))
    plain = DataLoader(x, y, 2, shuffle=True, seed=3)
    list(plain)
    b.load_state_dict(plain.state_dict())                  # a one-process run's checkpoint
    assert b.epoch == 0
    with pytest.raises(ValueError, match="ShardedLoader.load_state_dict"):
        b.load_state_dict({"rng": {"bit_generator": "MT19937"}})
    assert ShardedLoader(x, y, 2, StandIn(0, 2)).seed == 12345         # rank 0's seed, shared
    assert [len(ShardedLoader(x, y, 2, StandIn(r, 2), pad=False)) for r in (0, 1)] == [1, 2]


def test_transforms_draw_per_rank_and_epoch():
    x, y = np.zeros((8, 1)), np.arange(8)
    noise = lambda batch, rng: batch + rng.random(batch.shape)   # noqa: E731
    draws = [[xb.ravel().tolist() for xb, _ in ShardedLoader(x, y, 4, StandIn(r, 2),
                                                             transform=noise, seed=1)]
             for r in (0, 1)]
    assert draws[0] != draws[1]
    loader = ShardedLoader(x, y, 4, StandIn(0, 2), transform=noise, seed=1)
    assert [b.tolist() for b, _ in loader] != [b.tolist() for b, _ in loader]


# ----- SyncBatchNorm ----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5, 5)])
def test_sync_batchnorm_gradchecks_and_equals_batchnorm_on_one_rank(shape):
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal(shape) * 3 + 1, requires_grad=True)
    gamma = Tensor(rng.standard_normal(3), requires_grad=True)
    beta = Tensor(rng.standard_normal(3), requires_grad=True)
    comm = SingleProcess()
    mine = dict(running_mean=np.zeros(3), running_var=np.ones(3))
    theirs = dict(running_mean=np.zeros(3), running_var=np.ones(3))
    gradcheck(lambda x, g, b: SyncBatchNormOp.apply(x, g, b, comm=comm, running_mean=None,
                                                    running_var=None, momentum=0.1, eps=1e-5),
              [x, gamma, beta])
    y = SyncBatchNormOp.apply(x, gamma, beta, comm=comm, momentum=0.1, eps=1e-5, **mine)
    v = rng.standard_normal(shape)
    y.backward(v)
    grads = [t.grad.copy() for t in (x, gamma, beta)]
    for t in (x, gamma, beta):
        t.grad = None
    z = F.batch_norm(x, theirs["running_mean"], theirs["running_var"], gamma, beta, training=True)
    z.backward(v)
    np.testing.assert_allclose(y.data, z.data, atol=1e-12)
    for g, t in zip(grads, (x, gamma, beta)):
        np.testing.assert_allclose(g, t.grad, atol=1e-12)
    for key in mine:
        np.testing.assert_allclose(mine[key], theirs[key], atol=1e-12)


def test_convert_sync_batchnorm_keeps_the_layers_in_place():
    minidl.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, momentum=None), nn.ReLU(),
                        nn.Flatten(), nn.Linear(8, 4), nn.BatchNorm1d(4, affine=False))
    before = net.state_dict()
    weight = net[1].weight
    net.eval()
    converted = convert_sync_batchnorm(net, SingleProcess())
    assert converted is net and [type(m).__name__ for m in net] == [
        "Conv2d", "SyncBatchNorm", "ReLU", "Flatten", "Linear", "SyncBatchNorm"]
    assert net[1].weight is weight and not net[1].training and net[1].momentum is None
    assert list(net.state_dict()) == list(before)
    net.train()
    net(Tensor(np.random.default_rng(0).standard_normal((3, 1, 4, 4)).astype(np.float32)))
    assert net[1].num_batches_tracked == 1
    with pytest.raises(TypeError, match="pass comm="):
        SyncBatchNorm(3)


# ----- the optimizer wrapper --------------------------------------------------------------------
def blobs(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = np.array([[3.0, 0.0], [-2.0, 3.0], [-2.0, -3.0]])[y] + rng.normal(scale=0.8, size=(n, 2))
    return x.astype(np.float32), y


def small_run(wrap: bool):
    minidl.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2),
                        nn.Linear(8, 3))
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    comm = SingleProcess()
    if wrap:
        opt = DistributedOptimizer(opt, comm, check_every=1)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=3)
    x, y = blobs()
    train = (ShardedLoader(x, y, 16, comm, shuffle=True, seed=2) if wrap
             else DataLoader(x, y, 16, shuffle=True, seed=2))
    history = fit(net, opt, train, DataLoader(x, y, 32), epochs=3, scheduler=sched, progress=False)
    return net, opt, history


def test_one_rank_of_the_wrapper_equals_plain_training_exactly():
    (net, opt, history), (plain, plain_opt, plain_history) = small_run(True), small_run(False)
    for (k, a), b in zip(net.state_dict().items(), plain.state_dict().values()):
        assert np.array_equal(a, b), k
    assert history.iteration_loss == plain_history.iteration_loss
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h.epochs]  # noqa: E731
    assert strip(history) == strip(plain_history)
    assert opt.steps == 12 and opt.param_groups is opt.optimizer.param_groups
    assert sorted(opt.state_dict()) == sorted(plain_opt.state_dict())
    assert opt.seconds_in_allreduce > 0 and isinstance(opt.sync, distributed.ReplicaSync)
    assert sync_of(plain_opt) is LOCAL and sync_of(opt) is opt.sync


def test_the_wrapper_refuses_what_is_not_an_optimizer():
    p = nn.Parameter(np.zeros(2))
    with pytest.raises(TypeError, match="expected an Optimizer"):
        DistributedOptimizer([p], SingleProcess())
    opt = DistributedOptimizer(optim.SGD([p], lr=0.1), SingleProcess())
    with pytest.raises(TypeError, match="wrapped already"):
        DistributedOptimizer(opt, SingleProcess())
    with pytest.raises(ValueError, match="check_every"):
        DistributedOptimizer(optim.SGD([p], lr=0.1), SingleProcess(), check_every=-1)


def test_checksums_see_one_flipped_bit():
    a = np.random.default_rng(0).standard_normal(100).astype(np.float32)
    b = a.copy()
    b.view(np.uint32)[17] ^= 1
    assert checksums([a])[0] == checksums([a.copy()])[0] != checksums([b])[0]


# ----- failing ranks ------------------------------------------------------------------------------
def test_abort_on_error_reports_the_rank_and_aborts(capsys):
    with pytest.raises(RuntimeError, match=r"abort\(1\)"):
        with distributed.abort_on_error(StandIn(1, 2)):
            raise ValueError("bad batch")
    err = capsys.readouterr().err
    assert "minidl.distributed: rank 1 of 2 failed" in err and "ValueError: bad batch" in err
    with pytest.raises(RuntimeError, match=r"abort\(3\)"):
        with distributed.abort_on_error(StandIn(0, 2)):
            raise SystemExit(3)
    with pytest.raises(ValueError):                    # one rank: the error as it is
        with distributed.abort_on_error(SingleProcess()):
            raise ValueError("alone")
