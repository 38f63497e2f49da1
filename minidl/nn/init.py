"""Weight initialisation: Glorot/Xavier, He/Kaiming, constants, and hand-designed filters.

Why it matters (lecture 004): with n inputs of unit variance, a weighted sum has variance
n var(w). Glorot keeps the variance of activations and gradients steady through a layer by
var(w) = 2 / (fan_in + fan_out); He corrects for ReLU zeroing half its inputs with
var(w) = 2 / fan_in. A uniform U(-a, a) has variance a^2 / 3, hence the bounds below.
Every function fills a Parameter in place and returns it.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend, random
from ..tensor import no_grad


def _fans(p):
    """fan_in, fan_out of a (out, in) matrix or an (out, in, kh, kw) filter bank."""
    if p.ndim < 2:
        raise ValueError(f"init: fan in/out needs a tensor of at least 2 dimensions, got shape {p.shape}")
    receptive = int(np.prod(p.shape[2:])) if p.ndim > 2 else 1
    return p.shape[1] * receptive, p.shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which a nonlinearity shrinks the variance, as in PyTorch."""
    gains = {"linear": 1.0, "conv2d": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0)}
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity not in gains:
        raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")
    return gains[nonlinearity]


def _fill(p, values):
    with no_grad():
        p.data[...] = backend.to_device(np.asarray(values, dtype=p.dtype), p.device)
    return p


def _float_dtype(p):
    return p.dtype if p.dtype in (np.float32, np.float64) else np.float64


def uniform_(p, a=0.0, b=1.0):
    u = random.generator().random(p.shape, dtype=_float_dtype(p))   # drawn in the parameter's dtype
    return _fill(p, u * (b - a) + a)


def normal_(p, mean=0.0, std=1.0):
    z = random.generator().standard_normal(p.shape, dtype=_float_dtype(p))
    return _fill(p, z * std + mean)


def constant_(p, value):
    return _fill(p, np.full(p.shape, value))


def zeros_(p):
    return constant_(p, 0.0)


def ones_(p):
    return constant_(p, 1.0)


def xavier_uniform_(p, gain=1.0):
    """Glorot: U(-a, a), a = gain sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(p)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(p, -a, a)


def xavier_normal_(p, gain=1.0):
    """Glorot: N(0, std^2), std = gain sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(p)
    return normal_(p, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(p, a=0.0, mode="fan_in", nonlinearity="relu"):
    """He: U(-b, b), b = gain sqrt(3 / fan), gain sqrt(2) for ReLU."""
    fan = _fans(p)[0 if mode == "fan_in" else 1]
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(p, -bound, bound)


def kaiming_normal_(p, a=0.0, mode="fan_in", nonlinearity="relu"):
    """He: N(0, std^2), std = gain / sqrt(fan), so var = 2 / fan_in for ReLU."""
    fan = _fans(p)[0 if mode == "fan_in" else 1]
    return normal_(p, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


def set_filters_(p, filters):
    """Hand-designed initialisation: copy given filters (e.g. edge detectors) into a weight.

    ``filters`` must have the weight's shape, or (kh, kw) to use one filter for every
    (output, input) channel pair.
    """
    filters = np.asarray(filters, dtype=p.dtype)
    if filters.shape == p.shape[-2:] and p.ndim == 4:
        filters = np.broadcast_to(filters, p.shape)
    if filters.shape != p.shape:
        raise ValueError(f"set_filters_: expected filters of shape {p.shape} or {p.shape[-2:]}, "
                         f"got {filters.shape}")
    return _fill(p, filters)
