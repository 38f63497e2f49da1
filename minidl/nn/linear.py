"""Fully connected layer: every input connects to every output."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..tensor import ShapeError
from . import init
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """y = x W^T + b.  (*, in_features) -> (*, out_features).

    Weights and bias start as U(-1/sqrt(in), 1/sqrt(in)), PyTorch's default.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features)
        self.weight = init.uniform_(Parameter(np.empty((out_features, in_features), np.float32)), -bound, bound)
        self.bias = init.uniform_(Parameter(np.empty(out_features, np.float32)), -bound, bound) if bias else None

    def forward(self, x):
        if x.ndim < 2 or x.shape[-1] != self.in_features:
            raise ShapeError("Linear", f"input (N, {self.in_features})", tuple(x.shape))
        if x.dtype != self.weight.dtype:
            raise ShapeError("Linear", f"input of dtype {self.weight.dtype} (the weights' dtype)", f"dtype {x.dtype}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
