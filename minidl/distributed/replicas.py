"""The model's copies on the ranks (its replicas): start them equal, keep their buffers equal,
and check that they still are.

    broadcast(model, comm)          # rank 0's parameters and buffers on every rank
    average_buffers(model, comm)    # batch-norm running statistics: the mean of the ranks'
    check_replicas(params, comm)    # ReplicaDriftError if any rank's parameters differ

Data parallelism keeps one model per rank and relies on every rank applying the same update to
the same parameters; a rank whose parameters differ goes on training silently, its gradients
averaged into everyone's. check_replicas compares a CRC-32 of each parameter's bytes, so it
notices a single flipped bit at the cost of one pass over the weights and one small allgather.
"""
from __future__ import annotations

import zlib

import numpy as np

from ..backend import cupy_or_none, is_cupy_array

__all__ = ["ReplicaDriftError", "average_buffers", "broadcast", "check_replicas", "checksums"]


class ReplicaDriftError(RuntimeError):
    """The ranks' copies of the parameters are no longer the same."""


def _is_float(a) -> bool:
    return a is not None and a.dtype.kind == "f"


def _synced(module) -> bool:
    """A module whose buffers hold global statistics already (SyncBatchNorm)."""
    return getattr(module, "global_statistics", False)


def broadcast(model, comm, root: int = 0):
    """Every parameter and buffer of model set to root's values, in place (in named order).
    Returns model. Call it after building the model, before training (DistributedOptimizer
    broadcasts its parameters itself)."""
    for _, p in model.named_parameters():
        p.data = _own(p.data)
        comm.bcast_(p.data, root)
    for module in model.modules():
        for name, b in list(module._buffers.items()):
            if b is not None:
                module._buffers[name] = comm.bcast_(_own(b), root)
    return model


def average_buffers(model, comm) -> None:
    """Replace every floating-point buffer (running_mean, running_var) by the mean over the
    ranks, summed in float64; buffers of SyncBatchNorm layers, equal everywhere already, and
    integer buffers are left alone. Afterwards every rank holds the same buffers."""
    if comm.size == 1:
        return
    for module in model.modules():
        if _synced(module):
            continue
        for name, b in list(module._buffers.items()):
            if _is_float(b):
                xp = cupy_or_none() if is_cupy_array(b) else np
                total = comm.allreduce_(xp.ascontiguousarray(b, dtype=np.float64), "sum")
                module._buffers[name] = (total / comm.size).astype(b.dtype)


def checksums(arrays) -> np.ndarray:
    """int64 (K,): the CRC-32 of each array's bytes (copied to the host for CuPy arrays)."""
    out = np.empty(len(arrays), dtype=np.int64)
    for i, a in enumerate(arrays):
        host = cupy_or_none().asnumpy(a) if is_cupy_array(a) else np.ascontiguousarray(a)
        out[i] = zlib.crc32(memoryview(host).cast("B"))
    return out


def check_replicas(params, comm, where: str = "", names=None) -> None:
    """Raise ReplicaDriftError on every rank unless all ranks hold bit-identical params (a list
    of Tensors, the same list on every rank). names: labels for the message."""
    if comm.size == 1:
        return
    mine = checksums([p.data for p in params])
    every = comm.allgather(mine)                             # (size, K)
    differ = np.flatnonzero((every != every[0]).any(axis=0))
    if differ.size == 0:
        return
    i = int(differ[0])
    label = names[i] if names is not None else f"parameter {i}"
    ranks = [r for r in range(comm.size) if every[r, i] != every[0, i]]
    raise ReplicaDriftError(
        f"minidl.distributed: the ranks' parameters have drifted apart{where}: {differ.size} of "
        f"{len(params)} differ, first {label} (shape {tuple(params[i].shape)}), on rank(s) "
        f"{ranks} against rank 0. Every rank must apply the same update: broadcast the model "
        f"before training (minidl.distributed.broadcast), step every rank's optimizer through "
        f"DistributedOptimizer, and change parameters on all ranks or on none.")


def _own(a):
    """a as a writable C-contiguous array (a copy only when a is not one already)."""
    if is_cupy_array(a):
        return a if a.flags.c_contiguous else cupy_or_none().ascontiguousarray(a)
    return a if a.flags.c_contiguous and a.flags.writeable else np.array(a, order="C")
