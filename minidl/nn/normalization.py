"""Batch normalisation layers: learned scale gamma and shift beta, plus running statistics."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import ShapeError
from .module import Module
from .parameter import Parameter


class _BatchNorm(Module):
    """PyTorch's BatchNorm arguments:

    momentum            weight of the new batch in the running averages, or None for the
                        cumulative average: running = running + (batch - running) / t after the
                        t-th training batch (``num_batches_tracked``, a plain counter that
                        state_dict does not hold, so a reloaded layer counts again from 0)
    track_running_stats False: no running statistics; batch statistics in evaluation too
    """
    expected_ndim = 4

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.track_running_stats = track_running_stats
        self.weight = Parameter(np.ones(num_features, np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_features, np.float32)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, np.float32))
            self.register_buffer("running_var", np.ones(num_features, np.float32))
        else:
            self.running_mean = self.running_var = None
        self.num_batches_tracked = 0
        # When True the running statistics are used and kept fixed even in training mode
        # (how a frozen, pretrained BatchNorm behaves during fine-tuning).
        self.frozen_stats = False

    def forward(self, x, relu=False):
        """relu=True: relu(bn(x)) in one pass (forward hooks then see the output after the ReLU)."""
        if x.ndim != self.expected_ndim or x.shape[1] != self.num_features:
            shape = "(N, C)" if self.expected_ndim == 2 else "(N, C, H, W)"
            raise ShapeError(type(self).__name__, f"input {shape} with C = {self.num_features}", tuple(x.shape))
        if not self.track_running_stats:
            return F.batch_norm(x, None, None, self.weight, self.bias, training=True, eps=self.eps,
                                relu=relu)
        use_batch = self.training and not self.frozen_stats
        momentum = self.momentum
        if use_batch:
            self.num_batches_tracked += 1
            if momentum is None:
                momentum = 1.0 / self.num_batches_tracked
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=use_batch, momentum=momentum, eps=self.eps, relu=relu)

    def extra_repr(self) -> str:
        frozen = ", frozen_stats=True" if self.frozen_stats else ""
        tracking = "" if self.track_running_stats else ", track_running_stats=False"
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}{tracking}{frozen}"


class BatchNorm1d(_BatchNorm):
    """(N, C) -> (N, C), statistics per feature over the batch."""
    expected_ndim = 2


class BatchNorm2d(_BatchNorm):
    """(N, C, H, W) -> (N, C, H, W), statistics per channel over the batch and all positions."""
    expected_ndim = 4
