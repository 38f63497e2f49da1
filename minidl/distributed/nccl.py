"""GPU arrays all-reduced on the GPUs, through NCCL (CuPy's cupy.cuda.nccl), without the trip
through host memory that MPICommunicator makes.

    comm = minidl.distributed.init("nccl")   # under mpiexec; one GPU per rank

MPI still starts the job, hands NCCL its unique id (rank 0 makes it, bcast sends it) and carries
everything that is not a CuPy array. Each rank takes the GPU local_rank % (GPUs on its machine)
(``use_local_gpu``). NCCL needs one GPU per rank: two ranks on one GPU are refused by NCCL.
Optional, and tested only where a GPU is lent (tests/distributed, marker gpu).
"""
from __future__ import annotations

from ..backend import cupy_or_none, is_cupy_array
from .communicator import MPICommunicator

__all__ = ["NCCLCommunicator", "use_local_gpu"]


def _cupy():
    cupy = cupy_or_none()
    if cupy is None:
        raise ImportError("minidl.distributed: the NCCL backend needs CuPy with NCCL "
                          "(pip install -e '.[gpu]') and a CUDA GPU")
    return cupy


def use_local_gpu(comm) -> int:
    """Make GPU local_rank % count the current device of this rank; returns its number."""
    cupy = _cupy()
    device = comm.local_rank % cupy.cuda.runtime.getDeviceCount()
    cupy.cuda.Device(device).use()
    return device


class NCCLCommunicator(MPICommunicator):
    """MPICommunicator whose allreduce_ and bcast_ of CuPy arrays run in NCCL on the current
    stream (NumPy arrays still go through MPI)."""

    def __init__(self, comm=None):
        super().__init__(comm)
        cupy = _cupy()
        try:
            from cupy.cuda import nccl
        except ImportError as err:
            raise ImportError(f"minidl.distributed: CuPy was built without NCCL: {err}") from err
        if not getattr(nccl, "available", True):
            raise ImportError("minidl.distributed: CuPy's NCCL bindings are not available")
        self.device = use_local_gpu(self)
        uid = nccl.get_unique_id() if self.rank == 0 else None
        self.nccl_module, self.cupy = nccl, cupy
        self.nccl = nccl.NcclCommunicator(self.size, self.comm.bcast(uid, root=0), self.rank)
        self._types = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32,
                       "float64": nccl.NCCL_FLOAT64, "int32": nccl.NCCL_INT32,
                       "int64": nccl.NCCL_INT64}
        self._nccl_ops = {"sum": nccl.NCCL_SUM, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN}

    def _type(self, a):
        if a.dtype.name not in self._types or not a.flags.c_contiguous:
            raise ValueError(f"NCCLCommunicator: expected a C-contiguous array of "
                             f"{sorted(self._types)}, got {a.dtype} "
                             f"{'(not contiguous)' if not a.flags.c_contiguous else ''}")
        return self._types[a.dtype.name]

    def allreduce_(self, a, op: str = "sum"):
        if not is_cupy_array(a):
            return super().allreduce_(a, op)
        if op not in self._nccl_ops:
            return super().allreduce_(a, op)        # the error message
        stream = self.cupy.cuda.get_current_stream()
        self.nccl.allReduce(a.data.ptr, a.data.ptr, a.size, self._type(a), self._nccl_ops[op],
                            stream.ptr)
        stream.synchronize()
        return a

    def bcast_(self, a, root: int = 0):
        if not is_cupy_array(a):
            return super().bcast_(a, root)
        stream = self.cupy.cuda.get_current_stream()
        self.nccl.bcast(a.data.ptr, a.size, self._type(a), root, stream.ptr)
        stream.synchronize()
        return a

    def describe(self) -> str:
        return f"{super().describe()}, NCCL on GPU {self.device}"
