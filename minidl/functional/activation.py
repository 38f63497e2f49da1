"""Activation functions: ReLU, leaky ReLU, sigmoid, tanh, softmax and log-softmax; and
relu(a + b), the end of a residual block, as one op.

The lecture's non-linearities: sigma(x) = 1 / (1 + e^-x) squashes into (0, 1), tanh into (-1, 1),
ReLU f(x) = max(0, x) thresholds at zero. Their derivatives are what backward multiplies by:
sigma' = sigma (1 - sigma), tanh' = 1 - tanh^2, ReLU' = 1 where x > 0, else 0.
"""
from __future__ import annotations

from .. import kernels
from ..backend import get_array_module
from ..kernels import cpu
from ..tensor import Function


@kernels.dispatch(cpu=cpu.relu_forward)
def relu_forward(x):
    """Reference: max(0, x)."""
    return get_array_module(x).maximum(x, 0)


@kernels.dispatch(cpu=cpu.relu_backward)
def relu_backward(dy, y):
    """Reference: the gradient passes where the output was positive."""
    return dy * (y > 0)


class ReLU(Function):
    def forward(self, x):
        self.y = relu_forward(x)
        return self.y

    def backward(self, g):          # dReLU/dx = 1 if x > 0 else 0
        return (relu_backward(g, self.y),)


@kernels.dispatch(cpu=cpu.add_relu_forward)
def add_relu_forward(a, b):
    """Reference: max(0, a + b)."""
    return get_array_module(a, b).maximum(a + b, 0)


class AddReLU(Function):
    """relu(a + b) in one pass over the data instead of two: a residual block's output, where
    the shortcut is added to the block's last batch norm (He et al. 2016)."""

    def forward(self, a, b):
        self.y = add_relu_forward(a, b)
        return self.y

    def backward(self, g):          # d relu(a + b)/da = d relu(a + b)/db = 1 where a + b > 0
        g = relu_backward(g, self.y)
        return g, g


class LeakyReLU(Function):
    def forward(self, x, slope):
        self.slope_where = get_array_module(x).where(x > 0, 1.0, slope).astype(x.dtype)
        return x * self.slope_where

    def backward(self, g):          # 1 where x > 0, the slope elsewhere
        return (g * self.slope_where,)


class Sigmoid(Function):
    def forward(self, x):
        xp = get_array_module(x)
        # 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) for x < 0: no overflow either way
        e = xp.exp(-xp.abs(x))
        self.y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)
        return self.y

    def backward(self, g):          # sigma' = sigma (1 - sigma)
        return (g * self.y * (1 - self.y),)


class Tanh(Function):
    def forward(self, x):
        self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, g):          # tanh' = 1 - tanh^2
        return (g * (1 - self.y * self.y),)


class Softmax(Function):
    def forward(self, x, axis):
        xp = get_array_module(x)
        e = xp.exp(x - x.max(axis=axis, keepdims=True))   # shifting by the max avoids overflow
        self.y, self.axis = e / e.sum(axis=axis, keepdims=True), axis
        return self.y

    def backward(self, g):          # dy_i/dx_j = y_i (delta_ij - y_j)
        return (self.y * (g - (g * self.y).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    def forward(self, x, axis):
        xp = get_array_module(x)
        shifted = x - x.max(axis=axis, keepdims=True)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        self.softmax, self.axis = xp.exp(out), axis
        return out

    def backward(self, g):          # d log y_i / dx_j = delta_ij - y_j
        return (g - self.softmax * g.sum(axis=self.axis, keepdims=True),)


def relu(x): return ReLU.apply(x)
def add_relu(a, b): return AddReLU.apply(a, b)
def leaky_relu(x, negative_slope=0.01): return LeakyReLU.apply(x, slope=negative_slope)
def sigmoid(x): return Sigmoid.apply(x)
def tanh(x): return Tanh.apply(x)
def softmax(x, dim=-1, *, axis=None): return Softmax.apply(x, axis=dim if axis is None else axis)
def log_softmax(x, dim=-1, *, axis=None): return LogSoftmax.apply(x, axis=dim if axis is None else axis)
