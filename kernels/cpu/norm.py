"""Numba batch normalisation. Training mode, forward and backward: two passes over each
channel's values, a share of the channels per core. Evaluation mode: one pass per (image,
channel) plane with the running statistics, a share of the planes per core (``threads.split``).
Each can take the ReLU after it into its last pass (``relu``). The references are in
``minidl.functional.norm``."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import threads
from .common import ONE_THREAD, SHARES, float_array, relu as _relu, u


# Per-channel sums run in float64 with fastmath's reassociation (and nothing else of fastmath):
# it lets LLVM keep one partial sum per SIMD lane instead of one chain of dependent additions,
# 2-2.5x faster. The order of the additions is then the compiled code's, fixed for a machine but
# not the order the source reads; the float64 totals are rounded to the input's dtype after.

@njit(cache=True, fastmath={"reassoc"})
def _shifted_moments(x, start, stop, shift):
    """(sum(d), sum(d * d)) with d = x - shift over flat [start, stop), in float64."""
    s = t = 0.0
    for q in range(start, stop):
        d = x[u(q)] - shift
        s += d
        t += d * d
    return s, t


@njit(cache=True, fastmath={"reassoc"})
def _sum_and_dot(a, b, start, stop):
    """(sum(a), sum(a * b)) over flat [start, stop), in float64."""
    s = t = 0.0
    for q in range(start, stop):
        aq = np.float64(a[u(q)])
        s += aq
        t += aq * b[u(q)]
    return s, t


@njit(cache=True, fastmath={"reassoc"})
def _masked_sum_and_dot(a, y, b, start, stop):
    """(sum(a'), sum(a' * b)) with a' = a * (y > 0) over flat [start, stop), in float64."""
    s = t = 0.0
    for q in range(start, stop):
        aq = np.float64(a[u(q)] * (y[u(q)] > 0))
        s += aq
        t += aq * b[u(q)]
    return s, t


@njit(**ONE_THREAD)
def _batch_norm_forward_train(c0, c1, x, gamma, beta, eps, relu, y, xhat, mean, var, inv_std, n, c,
                              length):
    """x, y, xhat flat (N, C, L): statistics per channel over N and L, in two passes, for the
    channels [c0, c1); relu: y = max(0, y) in the second."""
    m = n * length
    for ch in range(c0, c1):
        # Mean and variance from one pass over d = x - shift: shifting by one of the channel's
        # own values keeps E[d^2] - E[d]^2 from cancelling when the mean is far from zero.
        shift = np.float64(x[u(ch * length)])
        s1 = s2 = 0.0
        for b in range(n):
            base = (b * c + ch) * length
            d1, d2 = _shifted_moments(x, base, base + length, shift)
            s1, s2 = s1 + d1, s2 + d2
        v = max(s2 / m - (s1 / m) ** 2, 0.0)
        mean[ch] = shift + s1 / m
        var[ch] = v
        inv_std[ch] = 1.0 / np.sqrt(v + eps)
        # Normalise with the statistics rounded to x's dtype, as the reference does.
        g, bt, mu, s = gamma[ch], beta[ch], mean[ch], inv_std[ch]
        for b in range(n):
            base = (b * c + ch) * length
            if relu:
                for q in range(base, base + length):
                    xh = (x[u(q)] - mu) * s
                    xhat[u(q)] = xh
                    y[u(q)] = _relu(g * xh + bt)
            else:
                for q in range(base, base + length):
                    xh = (x[u(q)] - mu) * s
                    xhat[u(q)] = xh
                    y[u(q)] = g * xh + bt


@njit(**SHARES)
def _batch_norm_forward_train_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _batch_norm_forward_train(bounds[s], bounds[s + 1], *args)


@njit(**ONE_THREAD)
def _batch_norm_backward(c0, c1, dy, xhat, gamma, inv_std, relu, y, dx, dgamma, dbeta, n, c, length):
    """dy, xhat, dx flat (N, C, L); sums per channel in float64, for the channels [c0, c1);
    relu: dy taken as dy * (y > 0), the gradient through the forward's ReLU."""
    m = n * length
    for ch in range(c0, c1):
        s_dy = s_dy_xhat = 0.0
        for b in range(n):
            base = (b * c + ch) * length
            if relu:
                d1, d2 = _masked_sum_and_dot(dy, y, xhat, base, base + length)
            else:
                d1, d2 = _sum_and_dot(dy, xhat, base, base + length)
            s_dy, s_dy_xhat = s_dy + d1, s_dy_xhat + d2
        dbeta[ch] = s_dy
        dgamma[ch] = s_dy_xhat
        # dx = inv_std / M (M dxhat - sum(dxhat) - xhat sum(dxhat xhat)) with dxhat = dy gamma,
        # sum(dxhat) = gamma dbeta and sum(dxhat xhat) = gamma dgamma, as the reference has it.
        k = gamma[ch] * inv_std[ch] / m
        s_dy, s_dy_xhat = dbeta[ch], dgamma[ch]  # rounded to dy's dtype, as in the reference
        for b in range(n):
            base = (b * c + ch) * length
            if relu:
                for q in range(base, base + length):
                    dx[u(q)] = k * (m * (dy[u(q)] * (y[u(q)] > 0)) - s_dy - xhat[u(q)] * s_dy_xhat)
            else:
                for q in range(base, base + length):
                    dx[u(q)] = k * (m * dy[u(q)] - s_dy - xhat[u(q)] * s_dy_xhat)


@njit(**SHARES)
def _batch_norm_backward_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _batch_norm_backward(bounds[s], bounds[s + 1], *args)


def _channels(a, name: str, fn: str, c: int, dtype) -> np.ndarray:
    """A (C,) float array in the input's dtype."""
    a = float_array(a, name, fn, (1,))
    if a.shape != (c,):
        raise ValueError(f"{fn}: {name} must have shape ({c},) for an input with {c} channels, "
                         f"got {a.shape}")
    return a.astype(dtype, copy=False)


def batch_norm_forward_train(x, gamma, beta, eps, relu=False):
    """x (N, C, H, W) or (N, C) -> (y, mean (C,), var (C,) biased, xhat, inv_std (C,)).

    Statistics are taken per channel over the batch (and the spatial positions); relu: y is
    max(0, y)."""
    fn = "batch_norm_forward_train"
    x = float_array(x, "x", fn, (2, 4))
    if x.size == 0:
        raise ValueError(f"{fn}: x must hold values to normalise, got shape {x.shape}")
    c = x.shape[1]
    gamma = _channels(gamma, "gamma", fn, c, x.dtype)
    beta = _channels(beta, "beta", fn, c, x.dtype)
    y, xhat = np.empty_like(x), np.empty_like(x)
    mean, var, inv_std = (np.empty(c, dtype=x.dtype) for _ in range(3))
    n, length = x.shape[0], x.size // (x.shape[0] * c)
    threads.split(_batch_norm_forward_train_shares, c, x.size, x.reshape(-1), gamma, beta, float(eps),
                  bool(relu), y.reshape(-1), xhat.reshape(-1), mean, var, inv_std, n, c, length)
    return y, mean, var, xhat, inv_std


def batch_norm_backward(dy, xhat, gamma, inv_std, y=None):
    """dy, xhat (N, C, H, W) or (N, C) -> (dx like dy, dgamma (C,), dbeta (C,)); y, the output of
    a forward with relu, masks dy by y > 0 first."""
    fn = "batch_norm_backward"
    dy = float_array(dy, "dy", fn, (2, 4))
    xhat = float_array(xhat, "xhat", fn, (2, 4))
    if xhat.shape != dy.shape:
        raise ValueError(f"{fn}: xhat {xhat.shape} must have dy's shape {dy.shape}")
    if dy.size == 0:
        raise ValueError(f"{fn}: dy must hold values, got shape {dy.shape}")
    xhat = xhat.astype(dy.dtype, copy=False)
    if y is None:
        mask = np.empty(1, dtype=dy.dtype)
    else:
        mask = float_array(y, "y", fn, (2, 4))
        if mask.shape != dy.shape:
            raise ValueError(f"{fn}: y {mask.shape} must have dy's shape {dy.shape}")
    c = dy.shape[1]
    gamma = _channels(gamma, "gamma", fn, c, dy.dtype)
    inv_std = _channels(inv_std, "inv_std", fn, c, dy.dtype)
    dx = np.empty_like(dy)
    dgamma, dbeta = np.empty(c, dtype=dy.dtype), np.empty(c, dtype=dy.dtype)
    n, length = dy.shape[0], dy.size // (dy.shape[0] * c)
    threads.split(_batch_norm_backward_shares, c, dy.size, dy.reshape(-1), xhat.reshape(-1), gamma, inv_std,
                  y is not None, mask.reshape(-1), dx.reshape(-1), dgamma, dbeta, n, c, length)
    return dx, dgamma, dbeta


@njit(**ONE_THREAD)
def _batch_norm_forward_eval(p0, p1, x, gamma, beta, mean, inv_std, y, xhat, keep, relu, c, length):
    """x, y, xhat flat (N, C, L), the (image, channel) planes [p0, p1); the reference's
    operations in its order, so the same bits; relu: y = max(0, y)."""
    for p in range(p0, p1):
        ch = p % c
        mu, s, g, bt = mean[ch], inv_std[ch], gamma[ch], beta[ch]
        if keep:
            for q in range(p * length, (p + 1) * length):
                xh = (x[u(q)] - mu) * s
                xhat[u(q)] = xh
                y[u(q)] = _relu(xh * g + bt) if relu else xh * g + bt
        elif relu:
            for q in range(p * length, (p + 1) * length):
                y[u(q)] = _relu((x[u(q)] - mu) * s * g + bt)
        else:
            for q in range(p * length, (p + 1) * length):
                y[u(q)] = (x[u(q)] - mu) * s * g + bt


@njit(**SHARES)
def _batch_norm_forward_eval_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _batch_norm_forward_eval(bounds[s], bounds[s + 1], *args)


def running_statistics(fn, c, dtype, gamma, beta, mean, var, eps):
    """(gamma, beta, mean, inv_std), (C,) arrays of the input's dtype, checked; inv_std in NumPy,
    exactly as the reference rounds it."""
    gamma, beta, mean, var = (_channels(a, name, fn, c, dtype) for a, name in
                              ((gamma, "gamma"), (beta, "beta"), (mean, "running_mean"), (var, "running_var")))
    return gamma, beta, mean, 1 / np.sqrt(var + eps)


def batch_norm_forward_eval(x, gamma, beta, mean, var, eps, keep_xhat=True, relu=False):
    """x (N, C, H, W) or (N, C) -> (y, xhat or None, inv_std (C,)), normalised with the running
    mean and variance; relu: y is max(0, y)."""
    fn = "batch_norm_forward_eval"
    x = float_array(x, "x", fn, (2, 4))
    c = x.shape[1]
    gamma, beta, mean, inv_std = running_statistics(fn, c, x.dtype, gamma, beta, mean, var, eps)
    y = np.empty_like(x)
    xhat = np.empty_like(x) if keep_xhat else np.empty(1, dtype=x.dtype)
    planes = x.shape[0] * c
    threads.split(_batch_norm_forward_eval_shares, planes, x.size, x.reshape(-1), gamma, beta, mean, inv_std,
                  y.reshape(-1), xhat.reshape(-1), keep_xhat, bool(relu), c, x.size // max(planes, 1))
    return y, (xhat if keep_xhat else None), inv_std
