"""Starting a job's communication: init() gives this process its communicator.

    comm = minidl.distributed.init()     # under mpiexec: MPI's COMM_WORLD; otherwise size 1

Outside ``mpiexec`` (none of the launchers' PMI_* / OMPI_* / PMIX_* variables) init() gives a
``SingleProcess``, and mpi4py is never imported: the same script trains on one process, or on
many under ``mpiexec -n 4 python script.py``. Under mpiexec it imports mpi4py (the
``distributed`` extra), and with more than one rank installs the hook that makes a failing
rank end the job (abort.py).
"""
from __future__ import annotations

import os

from .abort import install_abort_hook
from .communicator import Communicator, MPICommunicator, SingleProcess

__all__ = ["LAUNCHER_VARIABLES", "init", "under_mpiexec"]

# Variables a process launched by mpiexec finds in its environment: MPICH's Hydra (PMI_*),
# Open MPI (OMPI_COMM_WORLD_*), PMIx launchers (PMIX_RANK), Slurm's srun with PMI (PMI_SIZE).
LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")


def under_mpiexec(environ=None) -> bool:
    """Whether this process was started by an MPI launcher (mpiexec, mpirun, srun)."""
    environ = os.environ if environ is None else environ
    return any(name in environ for name in LAUNCHER_VARIABLES)


def init(backend: str = "mpi") -> Communicator:
    """The job's communicator: SingleProcess outside mpiexec; under it MPICommunicator
    (backend 'mpi', arrays through host memory) or NCCLCommunicator ('nccl', CuPy arrays
    all-reduced on the GPUs). Under mpiexec with more than one rank, an uncaught error on any
    rank takes the whole job down (abort.install_abort_hook)."""
    if backend not in ("mpi", "nccl"):
        raise ValueError(f"minidl.distributed.init: backend must be 'mpi' or 'nccl', got {backend!r}")
    if not under_mpiexec():
        return SingleProcess()
    if backend == "nccl":
        from .nccl import NCCLCommunicator      # imports CuPy's NCCL bindings: only when asked
        comm = NCCLCommunicator()
    else:
        comm = MPICommunicator()
    if comm.size > 1:
        install_abort_hook(comm)
    return comm
