"""Reference solution of lessons/exercises/batch_norm_forward.py."""
import numpy as np


def _channel(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def batch_norm_forward_train(x, gamma, beta, eps):
    axes = (0,) + tuple(range(2, x.ndim))
    mu = x.mean(axis=axes)
    var = ((x - _channel(mu, x.ndim)) ** 2).mean(axis=axes)
    inv_std = (1 / np.sqrt(var + eps)).astype(x.dtype)
    xhat = (x - _channel(mu, x.ndim)) * _channel(inv_std, x.ndim)
    return xhat * _channel(gamma, x.ndim) + _channel(beta, x.ndim), mu, var, xhat, inv_std


def batch_norm_forward_eval(x, gamma, beta, mean, var, eps, keep_xhat=True):
    inv_std = (1 / np.sqrt(var + eps)).astype(x.dtype)
    xhat = (x - _channel(mean, x.ndim)) * _channel(inv_std, x.ndim)
    return xhat * _channel(gamma, x.ndim) + _channel(beta, x.ndim), (xhat if keep_xhat else None), inv_std
