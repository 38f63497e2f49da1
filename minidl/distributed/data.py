"""Each rank's part of the data: seeded sharding by rank (PyTorch's DistributedSampler).

    train = ShardedLoader(x, y, batch_size=64, comm=comm, shuffle=True, seed=0)   # training
    val = ShardedLoader(x_val, y_val, batch_size=512, comm=comm, pad=False)       # evaluation

Every rank holds the data (each reads it itself: nothing large goes through MPI) and takes its
own indices. Each epoch all ranks draw the same permutation of 0..N-1 from the same seeded
generator -- the one DataLoader(shuffle=True, seed=seed) draws -- and rank r takes
``order[r::size]``. So batch t of the S ranks together is batch t of one process with S times
the batch size: samples order[t S B : (t+1) S B]. The mean of the shards' gradients is then
that batch's gradient, which is why S ranks x batch B train like 1 rank x batch S B.

pad=True (training): every rank gets ceil(N / S) samples (the order's first ones repeat at its
end), since every rank must take the same number of steps. pad=False (evaluation): each sample
exactly once, rank r holding the r-th contiguous block, so gathered results keep the data's
order. Transforms draw from a generator of (seed, rank, epoch) of their own, so the shuffle is
the same on every rank and the augmentation differs.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from ..data import DataLoader, Dataset
from ..data.arguments import check_int
from ..data.loader import restore_rng

__all__ = ["ShardedLoader", "shard_indices"]


def shard_indices(order: np.ndarray, rank: int, size: int, pad: bool = True) -> np.ndarray:
    """Rank's indices out of ``order`` (the epoch's order of 0..N-1): order[rank::size] after
    repeating order's head to a multiple of size (pad), or the rank-th contiguous block."""
    n = len(order)
    if pad:
        order = np.resize(order, -(-n // size) * size)     # the head again, cyclically
        return order[rank::size]
    bounds = [n * r // size for r in range(size + 1)]
    return order[bounds[rank]:bounds[rank + 1]]


class ShardedLoader:
    """DataLoader's batches (x (B, ...), y (B,)) over this rank's shard of images and labels
    (or of a Dataset). len() is the number of batches, the same on every rank when pad=True.

    comm     the communicator (its rank and size)
    seed     the shuffle's seed, the same on every rank; None takes rank 0's random one
    The other arguments are DataLoader's.
    """

    def __init__(self, images, labels=None, batch_size: int = 1, comm=None, shuffle: bool = False,
                 seed: int | None = None, drop_last: bool = False,
                 transform: Callable | None = None, pad: bool = True):
        if isinstance(images, Dataset):
            images, labels = images.images, images.labels
        if comm is None:
            raise TypeError("ShardedLoader: pass comm=, the job's communicator "
                            "(minidl.distributed.init())")
        # DataLoader checks the arrays; this one holds them and is iterated over a shard
        self.loader = DataLoader(images, labels, batch_size, drop_last=drop_last)
        self.comm, self.shuffle, self.transform, self.pad = comm, shuffle, transform, pad
        n = len(self.loader.labels)
        if n < comm.size:
            raise ValueError(f"ShardedLoader: {n} samples cannot be shared by {comm.size} ranks "
                             f"(each needs at least one)")
        if seed is None:
            seed = comm.bcast_object(int(np.random.SeedSequence().entropy % 2**63))
        self.seed = check_int(seed, "ShardedLoader: seed", 0)
        self.rng = np.random.default_rng(self.seed)   # DataLoader's: the same on every rank
        self.epoch = 0

    @property
    def batch_size(self) -> int:
        return self.loader.batch_size

    def indices(self) -> np.ndarray:
        """This rank's sample indices for the next epoch, without drawing them."""
        n = len(self.loader.labels)
        order = (np.random.default_rng(self._peek_state()).permutation(n) if self.shuffle
                 else np.arange(n))
        return shard_indices(order, self.comm.rank, self.comm.size, self.pad)

    def _peek_state(self):
        rng = np.random.default_rng()
        rng.bit_generator.state = self.rng.bit_generator.state
        return rng

    def shard_length(self) -> int:
        n, size = len(self.loader.labels), self.comm.size
        if self.pad:
            return -(-n // size)
        return n * (self.comm.rank + 1) // size - n * self.comm.rank // size

    def __len__(self) -> int:
        m, b = self.shard_length(), self.batch_size
        return m // b if self.loader.drop_last else -(-m // b)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = len(self.loader.labels)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        mine = shard_indices(order, self.comm.rank, self.comm.size, self.pad)
        augment = np.random.default_rng([self.seed, self.comm.rank, self.epoch])
        self.epoch += 1
        for i in range(len(self)):
            idx = mine[i * self.batch_size:(i + 1) * self.batch_size]
            x, y = self.loader.images[idx], self.loader.labels[idx]
            if self.transform is not None:
                x = self.transform(x, augment)
            yield x, y

    def state_dict(self) -> dict:
        """The shuffle's generator and the epoch count: the same on every rank and for every
        world size, so rank 0's copy in a checkpoint resumes a job of any size."""
        return {"rng": self.rng.bit_generator.state, "epoch": self.epoch}

    def load_state_dict(self, state_dict: dict) -> None:
        """Continue from state_dict(), or from a DataLoader's (one process's run: same shuffle)."""
        restore_rng(self.rng, state_dict, "ShardedLoader.load_state_dict", ", 'epoch': int")
        self.epoch = int(state_dict.get("epoch", 0))
