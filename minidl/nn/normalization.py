"""Batch normalisation layers: learned scale gamma and shift beta, plus running statistics."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import ShapeError
from .module import Module
from .parameter import Parameter


class _BatchNorm(Module):
    expected_ndim = 4

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(np.ones(num_features, np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_features, np.float32)) if affine else None
        self.register_buffer("running_mean", np.zeros(num_features, np.float32))
        self.register_buffer("running_var", np.ones(num_features, np.float32))
        # When True the running statistics are used and kept fixed even in training mode
        # (how a frozen, pretrained BatchNorm behaves during fine-tuning).
        self.frozen_stats = False

    def forward(self, x):
        if x.ndim != self.expected_ndim or x.shape[1] != self.num_features:
            shape = "(N, C)" if self.expected_ndim == 2 else "(N, C, H, W)"
            raise ShapeError(type(self).__name__, f"input {shape} with C = {self.num_features}", tuple(x.shape))
        use_batch = self.training and not self.frozen_stats
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=use_batch, momentum=self.momentum, eps=self.eps)

    def extra_repr(self) -> str:
        frozen = ", frozen_stats=True" if self.frozen_stats else ""
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}{frozen}"


class BatchNorm1d(_BatchNorm):
    """(N, C) -> (N, C), statistics per feature over the batch."""
    expected_ndim = 2


class BatchNorm2d(_BatchNorm):
    """(N, C, H, W) -> (N, C, H, W), statistics per channel over the batch and all positions."""
    expected_ndim = 4
