"""Synchronised batch normalisation: the statistics of the global batch, not of each rank's
shard (PyTorch's SyncBatchNorm, ChainerMN's MultiNodeBatchNormalization).

    model = convert_sync_batchnorm(model, comm)     # every BatchNorm1d/2d, weights kept

With S ranks of B samples each, a plain BatchNorm normalises by each shard's mean and variance,
so S x B is not the same computation as one process with a batch of S B. Here, over the
M = sum_r m_r values of each channel (m_r = B H W on rank r):

forward, one allgather of (m_r, mean_r (C,), M2_r (C,)) per layer, M2_r = sum (x - mean_r)^2:
    mu  = sum_r m_r mean_r / M
    var = sum_r (M2_r + m_r (mean_r - mu)^2) / M          (Chan et al.'s pairwise combination)
    xhat = (x - mu) / sqrt(var + eps),  y = gamma xhat + beta
backward, one all-reduce of (sum dy, sum dy xhat) (C,) each: with J = sum_r L_r,
    dJ/dx = gamma / sqrt(var + eps) / M (M dy - sum_all dy - xhat sum_all(dy xhat))
    dgamma, dbeta: this rank's sums (DistributedOptimizer averages them with the rest)
The running statistics take mu and the unbiased var M / (M - 1), equal on every rank.
"""
from __future__ import annotations

from .. import functional as F
from .. import nn
from ..backend import get_array_module
from ..tensor import Function, ShapeError

__all__ = ["SyncBatchNorm", "SyncBatchNormOp", "convert_sync_batchnorm"]


def _axes(x) -> tuple[int, ...]:
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(v, ndim: int):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


class SyncBatchNormOp(Function):
    """x (N, C) or (N, C, H, W), gamma (C,), beta (C,) -> y, x's shape; training mode, with the
    statistics over every rank of comm."""

    def forward(self, x, gamma, beta, comm, running_mean, running_var, momentum, eps):
        xp = get_array_module(x)
        c, axes = x.shape[1], _axes(x)
        self.comm, self.ndim = comm, x.ndim
        self.gamma = xp.ones(c, dtype=x.dtype) if gamma is None else gamma
        beta = xp.zeros(c, dtype=x.dtype) if beta is None else beta
        m = x.size // c
        mean = x.mean(axis=axes)
        m2 = ((x - _per_channel(mean, x.ndim)) ** 2).sum(axis=axes)
        every = comm.allgather(xp.concatenate([xp.full(1, m, dtype=x.dtype), mean, m2]))
        counts, means, m2s = every[:, :1], every[:, 1:1 + c], every[:, 1 + c:]
        total = float(counts.sum())
        if total < 2:
            raise ValueError(f"SyncBatchNorm: training needs more than one value per channel "
                             f"over all ranks, got {int(total)}")
        mu = (counts * means).sum(axis=0) / total
        var = (m2s + counts * (means - mu) ** 2).sum(axis=0) / total
        self.total = total
        self.inv_std = 1 / xp.sqrt(var + eps)
        self.xhat = (x - _per_channel(mu, x.ndim)) * _per_channel(self.inv_std, x.ndim)
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mu.astype(running_mean.dtype)
            running_var *= 1 - momentum
            running_var += (momentum * var * (total / (total - 1))).astype(running_var.dtype)
        return self.xhat * _per_channel(self.gamma, x.ndim) + _per_channel(beta, x.ndim)

    def backward(self, g):
        xp = get_array_module(g)
        need, c, axes, nd = self.needs_input_grad, g.shape[1], _axes(g), g.ndim
        dbeta = g.sum(axis=axes)                        # this rank's sum(dy)
        dgamma = (g * self.xhat).sum(axis=axes)         # this rank's sum(dy xhat)
        dx = None
        if need[0]:
            both = self.comm.allreduce_(xp.concatenate([dbeta, dgamma]), "sum")
            sum_dy, sum_dy_xhat = both[:c], both[c:]
            dx = _per_channel(self.gamma * self.inv_std / self.total, nd) * (
                self.total * g - _per_channel(sum_dy, nd) - self.xhat * _per_channel(sum_dy_xhat, nd))
        return dx, dgamma if need[1] else None, dbeta if need[2] else None


class SyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm over (N, C) or (N, C, H, W) whose training statistics are the global batch's
    (every rank of comm); evaluation uses the running statistics, as BatchNorm does. Same
    arguments, parameters and state_dict keys as BatchNorm1d/2d, plus comm."""

    global_statistics = True    # average_buffers leaves these buffers alone: equal everywhere

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, comm=None):
        if comm is None:
            raise TypeError("SyncBatchNorm: pass comm=, the job's communicator "
                            "(minidl.distributed.init())")
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.comm = comm

    @classmethod
    def like(cls, bn, comm) -> "SyncBatchNorm":
        """A SyncBatchNorm holding bn's own parameters and buffers (the same objects)."""
        new = cls(bn.num_features, bn.eps, bn.momentum, bn.weight is not None,
                  bn.track_running_stats, comm)
        for name in ("weight", "bias"):
            if getattr(bn, name) is not None:
                setattr(new, name, getattr(bn, name))
        if bn.track_running_stats:
            new.register_buffer("running_mean", bn.running_mean)
            new.register_buffer("running_var", bn.running_var)
        new.num_batches_tracked, new.frozen_stats = bn.num_batches_tracked, bn.frozen_stats
        new.train(bn.training)
        return new

    def forward(self, x, relu=False):
        if x.ndim not in (2, 4) or x.shape[1] != self.num_features:
            raise ShapeError("SyncBatchNorm", f"input (N, C) or (N, C, H, W) with C = "
                             f"{self.num_features}", tuple(x.shape))
        use_batch = not self.track_running_stats or (self.training and not self.frozen_stats)
        if not use_batch:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                training=False, eps=self.eps, relu=relu)
        momentum = self.momentum
        if self.track_running_stats:
            self.num_batches_tracked += 1
            if momentum is None:
                momentum = 1.0 / self.num_batches_tracked
        y = SyncBatchNormOp.apply(x, self.weight, self.bias, comm=self.comm,
                                  running_mean=self.running_mean,
                                  running_var=self.running_var, momentum=momentum, eps=self.eps)
        return F.relu(y) if relu else y

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self.comm.describe()}"


def convert_sync_batchnorm(module, comm):
    """Replace every BatchNorm1d/BatchNorm2d inside module by a SyncBatchNorm over comm that
    keeps its parameters and buffers (an optimizer made before still holds them). Returns module
    (or the SyncBatchNorm, when module is itself a BatchNorm)."""
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and not isinstance(module, SyncBatchNorm):
        return SyncBatchNorm.like(module, comm)
    for name, child in list(module.named_children()):
        replaced = convert_sync_batchnorm(child, comm)
        if replaced is not child:
            module._modules[name] = replaced        # in place: setattr would move it last
    return module

