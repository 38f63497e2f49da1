"""The communicator: how the processes of one training job (its ranks) reach each other.

    comm = minidl.distributed.init()     # job.py: under mpiexec MPI's COMM_WORLD, else size 1
    comm.rank, comm.size, comm.is_main   # 0..size-1, how many, rank 0 prints and saves
    comm.allreduce_(grads)               # in place: every rank's array summed, on every rank

``SingleProcess`` is the communicator of a job of one process: size 1, every collective returns
its input unchanged, no mpi4py. ``MPICommunicator`` wraps an mpi4py communicator (COMM_WORLD).

Arrays go through the buffer interface (no pickling): NumPy arrays directly, CuPy arrays through
a copy in host memory (``NCCLCommunicator`` in nccl.py keeps them on the GPU instead). Every
collective must be called by every rank in the same order: one rank that skips one waits for
ever, which is why minidl.train asks the ranks to agree before it raises (``all``).
"""
from __future__ import annotations

import numpy as np

from ..backend import cupy_or_none, is_cupy_array

__all__ = ["Communicator", "MPICommunicator", "SingleProcess", "import_mpi"]

OPS = ("sum", "max", "min")
INSTALL = "pip install -e '.[distributed]' (mpi4py and the mpich wheel)"


class Communicator:
    """What every communicator offers. ``rank`` in 0..size-1; ``local_rank`` counts the ranks
    on this machine (the GPU to take); collectives are called by every rank in the same order.

    allreduce_(a, op)   in place: a (any shape, NumPy or CuPy) becomes the elementwise op
                        ('sum', 'max' or 'min') over the ranks' a; returns a
    bcast_(a, root)     in place: every rank's a becomes root's a; returns a
    allgather(a)        (size, *a.shape): row r is rank r's a (same shape on every rank)
    allgatherv(a)       a 1-D array per rank, of any length: their concatenation in rank order
    bcast_object(obj)   root's small Python object (pickled: a flag, a seed, a checkpoint)
    all(flag)           True when every rank's flag is True
    abort(code)         end every rank of the job now
    """

    rank = 0
    size = 1
    local_rank = 0
    local_size = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that prints, plots and saves."""
        return self.rank == 0

    def all(self, flag: bool) -> bool:
        ok = np.array([1 if flag else 0], dtype=np.int64)
        return bool(self.allreduce_(ok, "min")[0])

    def sum(self, values) -> np.ndarray:
        """float64 values (a number or a 1-D list) summed over the ranks, as a new array."""
        return self.allreduce_(np.array(values, dtype=np.float64, ndmin=1), "sum")

    def describe(self) -> str:
        return f"rank {self.rank} of {self.size}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


class SingleProcess(Communicator):
    """The communicator of a job of one process: every collective is the identity."""

    def allreduce_(self, a, op: str = "sum"):
        _check_op(op)
        return a

    def bcast_(self, a, root: int = 0):
        return a

    def allgather(self, a):
        xp = cupy_or_none() if is_cupy_array(a) else np
        return xp.asarray(a)[None].copy()

    def allgatherv(self, a):
        return a.copy()

    def bcast_object(self, obj, root: int = 0):
        return obj

    def barrier(self) -> None:
        pass

    def abort(self, code: int = 1):
        raise SystemExit(code)


class MPICommunicator(Communicator):
    """An mpi4py communicator (COMM_WORLD by default). CuPy arrays are copied to host memory
    for each collective and back (the mpich wheel is not CUDA-aware)."""

    def __init__(self, comm=None):
        MPI = import_mpi()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank, self.local_size = node.Get_rank(), node.Get_size()
        node.Free()
        self._ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}

    def allreduce_(self, a, op: str = "sum"):
        _check_op(op)
        host = _host(a)
        self.comm.Allreduce(self.MPI.IN_PLACE, host, op=self._ops[op])
        return _back(a, host)

    def bcast_(self, a, root: int = 0):
        host = _host(a)
        self.comm.Bcast(host, root=root)
        return _back(a, host)

    def allgather(self, a):
        host = _readable(a)
        out = np.empty((self.size, *host.shape), dtype=host.dtype)
        self.comm.Allgather(host, out)
        return _like(a, out)

    def allgatherv(self, a):
        host = _readable(a).ravel()
        counts = self.allgather(np.array([host.size], dtype=np.int64))[:, 0]
        out = np.empty(int(counts.sum()), dtype=host.dtype)
        self.comm.Allgatherv(host, [out, counts.tolist()])
        return _like(a, out)

    def bcast_object(self, obj, root: int = 0):
        return self.comm.bcast(obj, root=root)

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self, code: int = 1):
        self.comm.Abort(code)


def import_mpi():
    """mpi4py's MPI module, or an ImportError that says how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise ImportError(f"minidl.distributed needs mpi4py and an MPI library: {INSTALL}; "
                          f"importing it failed: {err}") from err
    return MPI


def _check_op(op: str) -> None:
    if op not in OPS:
        raise ValueError(f"minidl.distributed: reduction op must be one of {OPS}, got {op!r}")


def _host(a) -> np.ndarray:
    """a itself if it is a contiguous NumPy array (MPI works on it in place), else a host copy."""
    if is_cupy_array(a):
        return cupy_or_none().asnumpy(a)
    if not isinstance(a, np.ndarray):
        raise TypeError(f"minidl.distributed: collectives take NumPy or CuPy arrays, got "
                        f"{type(a).__name__}")
    if not a.flags.c_contiguous or not a.flags.writeable:
        raise ValueError("minidl.distributed: collectives work in place on a C-contiguous, "
                         f"writable array; got one of shape {a.shape} that is "
                         f"{'not contiguous' if not a.flags.c_contiguous else 'read-only'}")
    return a


def _readable(a) -> np.ndarray:
    """A contiguous host copy (or view) of a NumPy or CuPy array, for sending only."""
    return cupy_or_none().asnumpy(a) if is_cupy_array(a) else np.ascontiguousarray(a)


def _back(a, host: np.ndarray):
    """Write the collective's result back into a (a CuPy array) and return a."""
    if host is not a:
        a.set(host)
    return a


def _like(a, out: np.ndarray):
    """out on a's device."""
    return cupy_or_none().asarray(out) if is_cupy_array(a) else out

