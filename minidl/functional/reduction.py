"""Reductions: sum, mean, max/min, var/std, and argmax/argmin (no gradient), over one dim or several.

They take PyTorch's ``dim``/``keepdim`` (``x.sum(dim=1, keepdim=True)``); NumPy's
``axis``/``keepdims`` are accepted as aliases for the same thing. ``max(x, dim)`` gives PyTorch's
(values, indices) pair; ``max(x)`` and ``max(x, axis=...)`` the values only, as NumPy's max.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..backend import get_array_module
from ..tensor import Function, Tensor
from .basic import neg, sqrt


# ----- reductions ----------------------------------------------------------------------------
def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim for a in axis)


def _expand(g, in_shape, axes, keepdims):
    """Reshape a reduced gradient so it broadcasts back over the reduced axes."""
    if keepdims:
        return g
    shape = [1 if i in axes else n for i, n in enumerate(in_shape)]
    return g.reshape(shape)


class Sum(Function):
    def forward(self, a, axis, keepdims):
        self.shape, self.axes, self.keepdims = a.shape, _axes(axis, a.ndim), keepdims
        return a.sum(axis=self.axes, keepdims=keepdims)

    def backward(self, g):          # every summed element gets the whole gradient
        xp = get_array_module(g)
        return (xp.broadcast_to(_expand(g, self.shape, self.axes, self.keepdims), self.shape),)


class Mean(Function):
    def forward(self, a, axis, keepdims):
        self.shape, self.axes, self.keepdims = a.shape, _axes(axis, a.ndim), keepdims
        self.count = int(np.prod([a.shape[i] for i in self.axes])) if self.axes else 1
        return a.mean(axis=self.axes, keepdims=keepdims)

    def backward(self, g):          # each of the n averaged elements gets 1/n of it
        xp = get_array_module(g)
        return (xp.broadcast_to(_expand(g, self.shape, self.axes, self.keepdims) / self.count, self.shape),)


class Max(Function):
    """Max over axes; ties share the gradient equally."""

    def forward(self, a, axis, keepdims):
        self.axes, self.keepdims = _axes(axis, a.ndim), keepdims
        out = a.max(axis=self.axes, keepdims=True)
        self.winners = a == out
        self.winners = self.winners / self.winners.sum(axis=self.axes, keepdims=True)
        return out if keepdims else out.reshape([n for i, n in enumerate(a.shape) if i not in self.axes])

    def backward(self, g):
        return (_expand(g, self.winners.shape, self.axes, self.keepdims) * self.winners,)


class Var(Function):
    """Variance over axes, dividing by n - correction (PyTorch's default correction=1)."""

    def forward(self, a, axis, keepdims, correction):
        self.axes, self.keepdims = _axes(axis, a.ndim), keepdims
        n = int(np.prod([a.shape[i] for i in self.axes]))
        self.denominator = n - correction if n > correction else 0
        self.centred = a - a.mean(axis=self.axes, keepdims=True)
        return (self.centred ** 2).sum(axis=self.axes, keepdims=keepdims) / self.denominator

    def backward(self, g):          # d var / d a_i = 2 (a_i - mean) / (n - correction)
        return (_expand(g, self.centred.shape, self.axes, self.keepdims) * 2 * self.centred / self.denominator,)


def dims(op, dim, keepdim, axis=None, keepdims=None):
    """(dim, keepdim) from PyTorch's names or NumPy's aliases axis/keepdims (not both at once)."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}: give dim or its NumPy alias axis, not both (got dim={dim!r}, "
                            f"axis={axis!r})")
        dim = axis
    return dim, bool(keepdim if keepdims is None else keepdims)


MaxResult = namedtuple("max", ["values", "indices"])   # torch.return_types.max
MinResult = namedtuple("min", ["values", "indices"])


def sum(a, dim=None, keepdim=False, *, axis=None, keepdims=None):  # noqa: A001
    """Sum over dim (an int, a tuple of ints, or None for all)."""
    dim, keepdim = dims("sum", dim, keepdim, axis, keepdims)
    return Sum.apply(a, axis=dim, keepdims=keepdim)


def mean(a, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Mean over dim (an int, a tuple of ints, or None for all)."""
    dim, keepdim = dims("mean", dim, keepdim, axis, keepdims)
    return Mean.apply(a, axis=dim, keepdims=keepdim)


def max(a, dim=None, keepdim=False, *, axis=None, keepdims=None):  # noqa: A001
    """max(x): the largest value. max(x, dim): (values, indices) along the int dim, PyTorch's
    pair (indices: the first maximum, int64, no gradient). max(x, axis=...): values only."""
    if dim is None:
        axis, keepdim = dims("max", None, keepdim, axis, keepdims)
        return Max.apply(a, axis=axis, keepdims=keepdim)
    dim, keepdim = dims("max", dim, keepdim, axis, keepdims)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"max: dim must be an int (for several axes use axis=...), got {dim!r}")
    return MaxResult(Max.apply(a, axis=dim, keepdims=keepdim), argmax(a, dim, keepdim))


def min(a, dim=None, keepdim=False, *, axis=None, keepdims=None):  # noqa: A001
    """min(x) = -max(-x), with max's forms: min(x, dim) gives (values, indices)."""
    if dim is None:
        return neg(max(neg(a), None, keepdim, axis=axis, keepdims=keepdims))
    values, _ = max(neg(a), dim, keepdim, axis=axis, keepdims=keepdims)
    return MinResult(neg(values), argmin(a, dim, keepdim))


def argmax(a, dim=None, keepdim=False):
    """Index of the (first) largest value along dim (of the flattened tensor when dim is None)."""
    return _arg(a, dim, keepdim, "argmax")


def argmin(a, dim=None, keepdim=False):
    """Index of the (first) smallest value along dim (of the flattened tensor when dim is None)."""
    return _arg(a, dim, keepdim, "argmin")


def _arg(a, dim, keepdim, which):
    data = a.data if isinstance(a, Tensor) else a
    out = getattr(data, which)(axis=dim)
    if keepdim:
        out = get_array_module(data).expand_dims(out, dim) if dim is not None else out.reshape((1,) * data.ndim)
    return Tensor(out.astype(np.int64))


def var(a, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=None):
    """Variance over dim dividing by n - correction: correction=1 (default; unbiased=True) is the
    sample variance, 0 (unbiased=False) the population variance, as in PyTorch."""
    dim, keepdim = dims("var", dim, keepdim, axis, keepdims)
    if unbiased is not None and correction is not None:
        raise TypeError("var: give correction or unbiased, not both")
    correction = (1 if unbiased is None or unbiased else 0) if correction is None else correction
    return Var.apply(a, axis=dim, keepdims=keepdim, correction=correction)


def std(a, dim=None, unbiased=None, keepdim=False, **options):
    """Standard deviation: the square root of var(a, dim, unbiased, keepdim, **options)."""
    return sqrt(var(a, dim, unbiased, keepdim, **options))
