"""Inverted dropout (Srivastava et al., 2014).

In training each value is zeroed with probability p and the survivors are scaled by 1/(1-p),
so the expected output equals the input and evaluation needs no rescaling: dropout is then the
identity. The backward pass lets the gradient through the same mask, with the same scale.
"""
from __future__ import annotations

from .. import random
from ..backend import device_of
from ..tensor import Function


class Dropout(Function):
    """x (any shape) -> same shape. Caches the scaled keep-mask."""

    def forward(self, x, p, generator):
        rng = generator if generator is not None else random.generator(device_of(x))
        keep = rng.random(x.shape) >= p
        self.mask = keep.astype(x.dtype) / (1 - p)
        return x * self.mask

    def backward(self, g):          # d(x m)/dx = m
        return (g * self.mask,)


def dropout(x, p=0.5, training=True, generator=None):
    """Zero each value with probability p (training only) and scale the rest by 1/(1-p)."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=p, generator=generator)
