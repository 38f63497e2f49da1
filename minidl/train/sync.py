"""What the training loop asks of the other processes training the same model on other shards
of the data (data parallelism: minidl.distributed), answered here for a job of one process.

fit, train_epoch and train_step take the optimizer's ``sync`` (a DistributedOptimizer carries
one), else ``LOCAL``; evaluate takes ``sync=``. For one process every answer leaves the numbers
as they are, so the loop is the textbook loop. minidl.distributed.ReplicaSync gives the same
answers over MPI:

    is_main, size           this process prints the progress and saves the checkpoints; how
                            many processes there are
    all(ok)                 every process's ok: a stop (a diverged loss) happens on all of them
                            or on none, so none is left waiting for the others
    same(n)                 whether every process has the same int n (its number of batches)
    sum(values)             float64 (K,): the processes' values summed (losses, counts)
    gather(a)               1-D arrays concatenated in rank order (evaluate's predictions)
    share(make, *args)      make(*args) on the main process, its result on every process
                            (the checkpoint fit resumes from, read once)
    average_buffers(model)  after each training epoch, before evaluating: make the model's
                            buffers (batch-norm running statistics) the same everywhere
"""
from __future__ import annotations

import numpy as np

__all__ = ["LOCAL", "LocalSync", "sync_of"]


class LocalSync:
    """The answers for a job of one process."""

    is_main = True
    size = 1

    def all(self, ok: bool) -> bool:
        return bool(ok)

    def same(self, n: int) -> bool:
        return True

    def sum(self, values) -> np.ndarray:
        return np.array(values, dtype=np.float64, ndmin=1)

    def gather(self, a):
        return a

    def share(self, make, *args):
        return make(*args)

    def average_buffers(self, model) -> None:
        pass


LOCAL = LocalSync()


def sync_of(optimizer) -> LocalSync:
    """The optimizer's sync (a DistributedOptimizer's), else LOCAL."""
    sync = getattr(optimizer, "sync", None)
    return LOCAL if sync is None else sync
