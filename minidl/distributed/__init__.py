"""Data-parallel training across processes and machines, over MPI (ChainerMN's design).

    comm = distributed.init()                        # size 1 outside mpiexec
    model = distributed.convert_sync_batchnorm(model, comm)      # optional: global BN statistics
    opt = distributed.DistributedOptimizer(optim.SGD(model.parameters(), lr=0.1), comm)
    distributed.broadcast(model, comm)               # rank 0's parameters and buffers everywhere
    train = distributed.ShardedLoader(x, y, 64, comm, shuffle=True, seed=0)   # this rank's part
    fit(model, opt, train, distributed.ShardedLoader(xv, yv, 512, comm, pad=False), epochs=5)

run as ``mpiexec -n 2 python script.py``. Every rank runs the same script on its own shard;
the optimizer all-reduces the gradients in one flat buffer and divides by the world size, so
every rank takes the same step; fit (through the optimizer's ``sync``) averages the batch-norm
running statistics and the metrics over the ranks, and only rank 0 prints and saves.

job.py            init(): this process's communicator (size 1 outside mpiexec)
communicator.py   SingleProcess, MPICommunicator (NumPy and, via the host, CuPy arrays)
nccl.py           NCCLCommunicator: CuPy arrays all-reduced on the GPUs (optional)
abort.py          a rank that fails takes the job down with its error
data.py           ShardedLoader: seeded sharding by rank
optimizer.py      DistributedOptimizer: averaged gradients, drift checks
replicas.py       broadcast, average_buffers, check_replicas
batchnorm.py      SyncBatchNorm, convert_sync_batchnorm
sync.py           ReplicaSync: what fit asks of the ranks (minidl.train.sync), over MPI

mpi4py is imported only under mpiexec (``pip install -e '.[distributed]'``).
"""
from .abort import abort_on_error, install_abort_hook
from .batchnorm import SyncBatchNorm, convert_sync_batchnorm
from .communicator import Communicator, MPICommunicator, SingleProcess
from .data import ShardedLoader, shard_indices
from .job import init, under_mpiexec
from .nccl import use_local_gpu
from .optimizer import DistributedOptimizer
from .replicas import ReplicaDriftError, average_buffers, broadcast, check_replicas
from .sync import ReplicaSync

__all__ = ["Communicator", "DistributedOptimizer", "MPICommunicator", "ReplicaDriftError",
           "ReplicaSync", "ShardedLoader", "SingleProcess", "SyncBatchNorm", "abort_on_error",
           "average_buffers", "broadcast", "check_replicas", "convert_sync_batchnorm", "init",
           "install_abort_hook", "shard_indices", "under_mpiexec", "use_local_gpu"]
