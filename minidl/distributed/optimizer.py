"""DistributedOptimizer: any optimizer, stepped with the gradients averaged over the ranks
(ChainerMN's multi-node optimizer, Horovod's DistributedOptimizer).

    opt = DistributedOptimizer(optim.SGD(model.parameters(), lr=0.1, momentum=0.9), comm)
    loss.backward(); opt.step()     # all-reduce, divide by comm.size, then SGD's own step

Each rank's loss is the mean over its own B samples, so its gradient g_r is the mean of their
per-sample gradients; with S ranks the mean (1/S) sum_r g_r is the mean over all S B samples:
the gradient one process would get from the global batch. Every rank steps with that same
gradient from the same parameters, so the replicas stay equal -- which check_every verifies.

step() packs every trainable parameter's gradient into one flat buffer (plus one count per
parameter: a gradient missing on some rank counts as zeros there, and one missing everywhere
stays None), all-reduces it in a single collective, divides by the world size and hands views
of it back as the gradients. The wrapper is an Optimizer (schedulers, fit and checkpoints take
it) whose param_groups, state and state_dict are the wrapped optimizer's.
"""
from __future__ import annotations

import time

import numpy as np

from ..backend import cupy_or_none, device_of, get_array_module
from ..data.arguments import check_int
from ..optim import Optimizer
from .replicas import check_replicas
from .sync import ReplicaSync

__all__ = ["DistributedOptimizer"]


class DistributedOptimizer(Optimizer):
    """optimizer     the optimizer to wrap (its parameters are broadcast from rank 0 here)
    comm          the communicator
    check_every   compare the ranks' parameters (CRC-32) every this many steps and after the
                  first (0: never); a difference raises ReplicaDriftError on every rank

    seconds_in_allreduce  time spent packing, all-reducing and unpacking gradients (benchmarks)
    sync                  what fit asks of the ranks (minidl.train.sync), over comm
    """

    def __init__(self, optimizer: Optimizer, comm, check_every: int = 100,
                 broadcast_parameters: bool = True):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"DistributedOptimizer: expected an Optimizer to wrap, got "
                            f"{type(optimizer).__name__}")
        if isinstance(optimizer, DistributedOptimizer):
            raise TypeError("DistributedOptimizer: the optimizer is wrapped already")
        self.optimizer, self.comm = optimizer, comm
        self.check_every = check_int(check_every, "DistributedOptimizer: check_every", 0)
        self.sync = ReplicaSync(comm)
        self.steps = 0
        self.seconds_in_allreduce = 0.0
        if broadcast_parameters:
            for p in self._trainable(all_params=True):
                comm.bcast_(p.data, 0)

    # the wrapped optimizer's groups and state, so schedulers and checkpoints see them
    @property
    def param_groups(self):
        return self.optimizer.param_groups

    @property
    def state(self):
        return self.optimizer.state

    @property
    def defaults(self):
        return self.optimizer.defaults

    def add_param_group(self, param_group: dict) -> None:
        self.optimizer.add_param_group(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none)

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        self.optimizer.load_state_dict(state_dict)

    def _trainable(self, all_params: bool = False) -> list:
        return [p for group in self.param_groups for p in group["params"]
                if all_params or p.requires_grad]

    # ----- the step ---------------------------------------------------------------------------
    def allreduce_gradients(self) -> None:
        """Replace every trainable parameter's grad by the mean of the ranks' grads."""
        t0 = time.perf_counter()
        params = self._trainable()
        if not params:
            return
        xp = get_array_module(*[p.data for p in params])
        dtype = np.result_type(*[p.data.dtype for p in params])
        sizes = [int(p.data.size) for p in params]
        ends = np.cumsum(sizes)
        buffer = xp.empty(int(ends[-1]) + len(params), dtype=dtype)   # gradients, then counts
        counts = buffer[int(ends[-1]):]
        for i, (p, end, n) in enumerate(zip(params, ends, sizes)):
            if p.grad is None:
                buffer[end - n:end] = 0
                counts[i] = 0
            else:
                buffer[end - n:end] = p.grad.reshape(-1)
                counts[i] = 1
        self.comm.allreduce_(buffer, "sum")
        buffer /= self.comm.size
        present = counts.get() if xp is not np else counts     # one copy from the GPU, not K
        for i, (p, end, n) in enumerate(zip(params, ends, sizes)):
            if present[i] != 0:
                grad = buffer[end - n:end].reshape(p.data.shape)
                p.grad = grad if grad.dtype == p.data.dtype else grad.astype(p.data.dtype)
        if xp is not np:
            cupy_or_none().cuda.get_current_stream().synchronize()
        self.seconds_in_allreduce += time.perf_counter() - t0

    def step(self, closure=None):
        """closure (optional) recomputes the loss; then the gradients are averaged over the
        ranks and the wrapped optimizer steps. Returns the closure's loss."""
        loss = closure() if closure is not None else None
        self.allreduce_gradients()
        self.optimizer.step()
        self.steps += 1
        if self.check_every and (self.steps == 1 or self.steps % self.check_every == 0):
            self.check_replicas()
        return loss

    def check_replicas(self) -> None:
        """ReplicaDriftError on every rank unless the ranks' parameters are bit-identical."""
        params = self._trainable(all_params=True)
        names = [f"group {g} parameter {i} ({device_of(p.data)})"
                 for g, group in enumerate(self.param_groups) for i, p in enumerate(group["params"])]
        check_replicas(params, self.comm, f" after step {self.steps}", names)

    def __repr__(self) -> str:
        return f"DistributedOptimizer({self.comm.describe()}) of {self.optimizer!r}"
