"""ReplicaSync: minidl.train.sync's questions (what fit asks of the other processes) answered
over a communicator; a DistributedOptimizer carries one, and fit takes it from there.

    is_main           rank 0 prints the progress and saves the checkpoints
    all(ok)           one small all-reduce (min): every rank stops together, or none does
    same(n)           every rank has the same number of batches (an allgather of one int)
    sum(values)       the epoch's loss sums and sample counts, over the ranks
    gather(a)         evaluate's predictions, rank 0's shard first
    share(make, ..)   rank 0 reads the checkpoint to resume from and sends it to the others
                      (several machines need not share a file system)
    average_buffers   the batch-norm running statistics averaged over the ranks, so that every
                      rank evaluates, and rank 0 saves, the same model
"""
from __future__ import annotations

import numpy as np

from ..train.sync import LocalSync
from .replicas import average_buffers

__all__ = ["ReplicaSync"]


class ReplicaSync(LocalSync):
    """LocalSync's answers for the ranks of comm."""

    def __init__(self, comm):
        self.comm = comm

    @property
    def is_main(self) -> bool:
        return self.comm.is_main

    @property
    def size(self) -> int:
        return self.comm.size

    def all(self, ok: bool) -> bool:
        return self.comm.all(ok)

    def same(self, n: int) -> bool:
        every = self.comm.allgather(np.array([n], dtype=np.int64))
        return bool((every == every[0]).all())

    def sum(self, values) -> np.ndarray:
        return self.comm.sum(values)

    def gather(self, a):
        return self.comm.allgatherv(a)

    def share(self, make, *args):
        value = make(*args) if self.comm.is_main else None
        return self.comm.bcast_object(value)

    def average_buffers(self, model) -> None:
        average_buffers(model, self.comm)

    def __repr__(self) -> str:
        return f"ReplicaSync({self.comm.describe()})"
