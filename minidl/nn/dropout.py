"""Dropout layer: active in train(), the identity in eval()."""
from __future__ import annotations

from .. import functional as F
from .module import Module


class Dropout(Module):
    """Any shape -> same shape; zeroes each value with probability p while training."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
