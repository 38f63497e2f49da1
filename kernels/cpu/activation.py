"""Numba ReLU, forward and backward, and the residual connection's relu(a + b), in one pass each,
a share of the elements per thread (``threads.split``); the references are in
``minidl.functional.activation``."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import threads
from .common import ONE_THREAD, SHARES, float_array, relu, u


@njit(**ONE_THREAD)
def _relu_forward(start, stop, x, y):
    for q in range(start, stop):
        y[u(q)] = relu(x[u(q)])


@njit(**SHARES)
def _relu_forward_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _relu_forward(bounds[s], bounds[s + 1], *args)


@njit(**ONE_THREAD)
def _add_relu_forward(start, stop, a, b, y):
    for q in range(start, stop):
        y[u(q)] = relu(a[u(q)] + b[u(q)])


@njit(**SHARES)
def _add_relu_forward_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _add_relu_forward(bounds[s], bounds[s + 1], *args)


@njit(**ONE_THREAD)
def _relu_backward(start, stop, dy, y, dx):
    for q in range(start, stop):
        dx[u(q)] = dy[u(q)] * (y[u(q)] > 0)  # as the reference: NaN * 0 stays NaN


@njit(**SHARES)
def _relu_backward_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _relu_backward(bounds[s], bounds[s + 1], *args)


def relu_forward(x):
    """y = max(x, 0), any shape."""
    x = float_array(x, "x", "relu_forward", None)
    y = np.empty_like(x)
    threads.split(_relu_forward_shares, x.size, x.size, x.reshape(-1), y.reshape(-1))
    return y


def add_relu_forward(a, b):
    """y = max(a + b, 0) for a and b of one shape and float dtype; other pairs (broadcasting,
    mixed dtypes): NotImplemented, left to the reference."""
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
            and a.shape == b.shape and a.dtype == b.dtype):
        return NotImplemented
    a = float_array(a, "a", "add_relu_forward", None)
    b = float_array(b, "b", "add_relu_forward", None)
    y = np.empty_like(a)
    threads.split(_add_relu_forward_shares, a.size, 2 * a.size, a.reshape(-1), b.reshape(-1), y.reshape(-1))
    return y


def relu_backward(dy, y):
    """dx = dy * (y > 0); dy and y of one shape."""
    dy = float_array(dy, "dy", "relu_backward", None)
    y = float_array(y, "y", "relu_backward", None)
    if dy.shape != y.shape:
        raise ValueError(f"relu_backward: dy {dy.shape} and y {y.shape} must have one shape")
    dx = np.empty_like(dy)
    threads.split(_relu_backward_shares, dy.size, dy.size, dy.reshape(-1), y.reshape(-1), dx.reshape(-1))
    return dx

