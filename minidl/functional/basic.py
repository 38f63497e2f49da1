"""Elementary ops: arithmetic, reductions, shape changes, matrix products.

Each op is a Function whose backward sits right under its forward, with the derivative in a
comment. ``g`` is always dL/d(output); broadcasting is undone by the engine (tensor.sum_to_shape),
so a backward may return a gradient in the broadcast shape.

Joins take PyTorch's ``dim`` (``cat(ts, dim=1)``), NumPy's ``axis`` as an alias; the reductions
are in ``reduction.py``.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..backend import get_array_module
from ..tensor import Function, ShapeError, Tensor


# ----- arithmetic ----------------------------------------------------------------------------
class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, g):          # d(a+b)/da = 1, d(a+b)/db = 1
        return g, g


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, g):          # d(a-b)/da = 1, d(a-b)/db = -1
        return g, -g


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):          # d(ab)/da = b, d(ab)/db = a
        return (g * self.b if self.needs_input_grad[0] else None,
                g * self.a if self.needs_input_grad[1] else None)


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):          # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        return (g / self.b if self.needs_input_grad[0] else None,
                -g * self.a / (self.b * self.b) if self.needs_input_grad[1] else None)


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return (-g,)


class Pow(Function):
    """a ** p for a constant exponent p."""

    def forward(self, a, p):
        self.a, self.p = a, p
        return a ** p

    def backward(self, g):          # d(a^p)/da = p a^(p-1)
        return (g * self.p * self.a ** (self.p - 1),)


class Exp(Function):
    def forward(self, a):
        self.out = get_array_module(a).exp(a)
        return self.out

    def backward(self, g):          # d(e^a)/da = e^a
        return (g * self.out,)


class Log(Function):
    def forward(self, a):
        self.a = a
        return get_array_module(a).log(a)

    def backward(self, g):          # d(ln a)/da = 1/a
        return (g / self.a,)


class Sqrt(Function):
    def forward(self, a):
        self.out = get_array_module(a).sqrt(a)
        return self.out

    def backward(self, g):          # d(sqrt a)/da = 1 / (2 sqrt a)
        return (g / (2 * self.out),)


class Abs(Function):
    def forward(self, a):
        self.a = a
        return get_array_module(a).abs(a)

    def backward(self, g):          # d|a|/da = sign(a), taken as 0 at a = 0
        return (g * get_array_module(g).sign(self.a),)


class Maximum(Function):
    """Elementwise max(a, b); a tie sends half the gradient each way."""

    def forward(self, a, b):
        xp = get_array_module(a, b)
        self.a_wins = (a > b) + 0.5 * (a == b)
        return xp.maximum(a, b)

    def backward(self, g):
        return g * self.a_wins, g * (1 - self.a_wins)


class Clip(Function):
    def forward(self, a, lo, hi):
        xp = get_array_module(a)
        self.inside = xp.ones(a.shape, dtype=bool)
        if lo is not None:
            self.inside &= a >= lo
        if hi is not None:
            self.inside &= a <= hi
        return xp.clip(a, lo, hi)

    def backward(self, g):          # 1 inside [lo, hi], 0 where the value was clipped
        return (g * self.inside,)


# ----- shapes --------------------------------------------------------------------------------
class Reshape(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ShapeError("reshape", f"a shape with {a.size} elements", tuple(shape)) from None

    def backward(self, g):
        return (g.reshape(self.shape),)


class Permute(Function):
    def forward(self, a, axes):
        self.axes = tuple(ax % a.ndim for ax in axes)
        if sorted(self.axes) != list(range(a.ndim)):
            raise ShapeError("permute", f"a permutation of {a.ndim} axes", tuple(axes))
        return a.transpose(self.axes)

    def backward(self, g):          # undo the permutation
        return (g.transpose(np.argsort(self.axes)),)


class GetItem(Function):
    """Indexing and slicing; the gradient is scattered back into a zero array."""

    def forward(self, a, index):
        self.shape, self.index = a.shape, index
        return a[index]

    def backward(self, g):
        xp = get_array_module(g)
        dx = xp.zeros(self.shape, dtype=g.dtype)
        if _is_basic_index(self.index):
            dx[self.index] = g                     # slices never repeat an element
        elif xp is np:
            np.add.at(dx, self.index, g)           # fancy indices may repeat: accumulate
        else:
            import cupyx
            cupyx.scatter_add(dx, self.index, g)
        return (dx,)


def _is_basic_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, slice, type(None), type(Ellipsis))) for i in items)


class Concatenate(Function):
    def forward(self, *arrays, axis):
        xp = get_array_module(*arrays)
        self.axis = axis % arrays[0].ndim
        self.splits = np.cumsum([a.shape[self.axis] for a in arrays])[:-1]
        return xp.concatenate(arrays, axis=self.axis)

    def backward(self, g):          # each input gets its own slab of the gradient
        return tuple(get_array_module(g).split(g, self.splits, axis=self.axis))


class Stack(Function):
    def forward(self, *arrays, axis):
        self.axis = axis
        return get_array_module(*arrays).stack(arrays, axis=axis)

    def backward(self, g):
        xp = get_array_module(g)
        return tuple(xp.squeeze(part, axis=self.axis)
                     for part in xp.split(g, g.shape[self.axis], axis=self.axis))


class Pad(Function):
    def forward(self, a, pad_width, value):
        self.slices = tuple(slice(lo, lo + n) for (lo, _), n in zip(pad_width, a.shape))
        return get_array_module(a).pad(a, pad_width, constant_values=value)

    def backward(self, g):          # the padding was constant: only the inner block has gradient
        return (g[self.slices],)


# ----- matrix products -----------------------------------------------------------------------
class MatMul(Function):
    """Batched matrix product with NumPy's broadcasting rules (2-D or more)."""

    def forward(self, a, b):
        if a.ndim < 2 or b.ndim < 2:
            raise ShapeError("matmul", "operands with at least 2 dimensions", (a.shape, b.shape))
        if a.shape[-1] != b.shape[-2]:
            raise ShapeError("matmul", f"(..., n, {a.shape[-1]}) @ ({a.shape[-1]}, m)",
                             f"{tuple(a.shape)} @ {tuple(b.shape)}")
        self.a, self.b = a, b
        return a @ b

    def backward(self, g):          # dL/dA = G B^T,  dL/dB = A^T G
        ga = g @ self.b.swapaxes(-1, -2) if self.needs_input_grad[0] else None
        gb = self.a.swapaxes(-1, -2) @ g if self.needs_input_grad[1] else None
        return ga, gb


class ToDevice(Function):
    def forward(self, a, device):
        self.source = backend.device_of(a)
        return backend.to_device(a, device)

    def backward(self, g):          # the gradient travels back to where the data came from
        return (backend.to_device(g, self.source),)


class AsType(Function):
    def forward(self, a, dtype):
        self.dtype = a.dtype
        return a.astype(dtype)

    def backward(self, g):
        return (g.astype(self.dtype),)


# ----- the functional API --------------------------------------------------------------------
def add(a, b): return Add.apply(a, b)
def sub(a, b): return Sub.apply(a, b)
def mul(a, b): return Mul.apply(a, b)
def div(a, b): return Div.apply(a, b)
def neg(a): return Neg.apply(a)
def exp(a): return Exp.apply(a)
def log(a): return Log.apply(a)
def sqrt(a): return Sqrt.apply(a)
def abs(a): return Abs.apply(a)  # noqa: A001 (PyTorch's name)
def maximum(a, b): return Maximum.apply(a, b)
def clip(a, lo=None, hi=None): return Clip.apply(a, lo=lo, hi=hi)
def matmul(a, b): return MatMul.apply(a, b)
def to_device(a, device): return ToDevice.apply(a, device=device)
def astype(a, dtype): return AsType.apply(a, dtype=np.dtype(dtype))


def pow(a, exponent):  # noqa: A001 (PyTorch's name)
    if isinstance(exponent, Tensor):
        raise TypeError("pow: the exponent must be a number (a tensor exponent is not supported)")
    return Pow.apply(a, p=exponent)


def reshape(a, shape): return Reshape.apply(a, shape=tuple(shape))
def permute(a, axes): return Permute.apply(a, axes=tuple(axes))
def getitem(a, index): return GetItem.apply(a, index=_raw_index(index))


def transpose(a, dim0=None, dim1=None):
    """Swap two axes (default: reverse all, as ndarray.transpose)."""
    if dim0 is None:
        return permute(a, tuple(reversed(range(a.ndim))))
    axes = list(range(a.ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return permute(a, axes)


def flatten(a, start_dim=0, end_dim=-1):
    shape = a.shape
    start, end = start_dim % len(shape), end_dim % len(shape)
    return reshape(a, shape[:start] + (int(np.prod(shape[start:end + 1])),) + shape[end + 1:])


def concatenate(tensors, dim=0, *, axis=None):
    """Join along an existing dim (torch.cat); every other size must agree."""
    return Concatenate.apply(*tensors, axis=dim if axis is None else axis)


def stack(tensors, dim=0, *, axis=None):
    """Join along a new dim (torch.stack); every shape must agree."""
    return Stack.apply(*tensors, axis=dim if axis is None else axis)


cat = concatenate


def squeeze(a, dim=None):
    """Drop the size-1 dims (only ``dim``, if given and of size 1, as in PyTorch)."""
    dims_ = [d % a.ndim for d in ((dim,) if isinstance(dim, int) else dim)] if dim is not None else None
    return reshape(a, tuple(n for i, n in enumerate(a.shape)
                            if n != 1 or (dims_ is not None and i not in dims_)))


def unsqueeze(a, dim):
    """Insert a size-1 dim at ``dim`` (-1 appends), as torch.unsqueeze."""
    dim = dim % (a.ndim + 1)
    return reshape(a, a.shape[:dim] + (1,) + a.shape[dim:])


def pad(a, pad_width, value=0.0):
    """Constant padding; pad_width as in numpy.pad: ((before, after), ...) per axis."""
    return Pad.apply(a, pad_width=tuple(tuple(p) for p in pad_width), value=value)


def linear(x, weight, bias=None):
    """y = x W^T + b.  x (*, in), weight (out, in), bias (out,) -> (*, out)."""
    if x.shape[-1] != weight.shape[-1]:
        raise ShapeError("linear", f"input (*, {weight.shape[-1]})", tuple(x.shape))
    y = matmul(x, transpose(weight))
    return y + bias if bias is not None else y


def _raw_index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index
