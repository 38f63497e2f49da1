"""Tensor's operators and methods, which are the ops of this package.

``a + b`` is ``add(a, b)``, ``x.sum(dim)`` is ``sum(x, dim)``, ``x.relu()`` is ``relu(x)``:
the same Functions, with their backward beside their forward in ``basic.py``, ``reduction.py``
and ``activation.py``. Dimensions are PyTorch's ``dim``/``keepdim`` (NumPy's ``axis``/``keepdims``
are aliases). They are attached to Tensor here, because the ops are built on Tensor
(tensor.py sits below functional and imports none of it).
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from . import activation as act
from . import basic as ops
from . import reduction as red


def _shape_args(args):
    """x.reshape(2, 3) and x.reshape((2, 3)) alike."""
    return args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


class TensorMethods:
    """The methods below become Tensor's own (see the loop at the end of this file)."""

    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.sub(self, other)
    def __rsub__(self, other): return ops.sub(other, self)
    def __mul__(self, other): return ops.mul(self, other)
    def __rmul__(self, other): return ops.mul(other, self)
    def __truediv__(self, other): return ops.div(self, other)
    def __rtruediv__(self, other): return ops.div(other, self)
    def __neg__(self): return ops.neg(self)
    def __pow__(self, exponent): return ops.pow(self, exponent)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __getitem__(self, index): return ops.getitem(self, index)
    def __abs__(self): return ops.abs(self)

    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def abs(self): return ops.abs(self)
    def clip(self, lo=None, hi=None): return ops.clip(self, lo, hi)
    def clamp(self, min=None, max=None): return ops.clip(self, min, max)
    def sum(self, dim=None, keepdim=False, **numpy_names): return red.sum(self, dim, keepdim, **numpy_names)
    def mean(self, dim=None, keepdim=False, **numpy_names): return red.mean(self, dim, keepdim, **numpy_names)
    def max(self, dim=None, keepdim=False, **numpy_names): return red.max(self, dim, keepdim, **numpy_names)
    def min(self, dim=None, keepdim=False, **numpy_names): return red.min(self, dim, keepdim, **numpy_names)
    def var(self, dim=None, unbiased=None, keepdim=False, **options):
        return red.var(self, dim, unbiased, keepdim, **options)
    def std(self, dim=None, unbiased=None, keepdim=False, **options):
        return red.std(self, dim, unbiased, keepdim, **options)
    def argmax(self, dim=None, keepdim=False, *, axis=None):
        return red.argmax(self, dim if axis is None else axis, keepdim)
    def argmin(self, dim=None, keepdim=False, *, axis=None):
        return red.argmin(self, dim if axis is None else axis, keepdim)
    def any(self): return Tensor(self.data.any())
    def all(self): return Tensor(self.data.all())
    def squeeze(self, dim=None): return ops.squeeze(self, dim)
    def unsqueeze(self, dim): return ops.unsqueeze(self, dim)
    def reshape(self, *shape): return ops.reshape(self, _shape_args(shape))
    def view(self, *shape): return ops.reshape(self, _shape_args(shape))
    def flatten(self, start_dim=0, end_dim=-1): return ops.flatten(self, start_dim, end_dim)
    def permute(self, *axes): return ops.permute(self, _shape_args(axes))
    def transpose(self, dim0=None, dim1=None): return ops.transpose(self, dim0, dim1)
    @property
    def T(self): return ops.permute(self, tuple(reversed(range(self.ndim))))
    def relu(self): return act.relu(self)
    def sigmoid(self): return act.sigmoid(self)
    def tanh(self): return act.tanh(self)
    def softmax(self, dim=-1, *, axis=None): return act.softmax(self, dim if axis is None else axis)
    def log_softmax(self, dim=-1, *, axis=None): return act.log_softmax(self, dim if axis is None else axis)

    def to(self, device: str):
        """A copy on 'cpu' or 'cuda' that stays in the graph (gradients flow back across devices)."""
        return self if device == self.device else ops.to_device(self, device)

    def cpu(self): return self.to("cpu")
    def cuda(self): return self.to("cuda")
    def astype(self, dtype): return ops.astype(self, dtype)
    def float(self): return ops.astype(self, np.float32)
    def double(self): return ops.astype(self, np.float64)


for _name, _method in vars(TensorMethods).items():
    if _name not in ("__module__", "__qualname__", "__doc__", "__dict__", "__weakref__"):
        setattr(Tensor, _name, _method)
