"""Batch normalisation (Ioffe and Szegedy, 2015), the lecture's algorithm.

Over a mini-batch B = {x_1..m} (per channel; m = N for (N, C) input, N*H*W for (N, C, H, W)):
    mu    = 1/m sum x_i                         mini-batch mean
    var   = 1/m sum (x_i - mu)^2                mini-batch variance
    xhat  = (x_i - mu) / sqrt(var + eps)        normalise
    y_i   = gamma xhat_i + beta                 scale and shift (learned)
In training the batch statistics are used and the running averages updated,
    running = (1 - momentum) running + momentum batch_statistic
(the running variance takes the unbiased m/(m-1) estimate, as PyTorch does); in evaluation the
running statistics replace mu and var, so one image's output does not depend on its batch.
"""
from __future__ import annotations

import math

from .. import kernels
from ..backend import get_array_module
from ..kernels import cpu
from ..tensor import Function, ShapeError
from .activation import relu_backward


def _axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


@kernels.dispatch(cpu=cpu.batch_norm_forward_train)
def batch_norm_forward_train(x, gamma, beta, eps, relu=False):
    """Reference: (y, mean (C,), biased var (C,), xhat, inv_std (C,)); relu: y = max(0, y)."""
    xp = get_array_module(x)
    axes = _axes(x)
    mu = x.mean(axis=axes)
    var = ((x - _per_channel(mu, x.ndim)) ** 2).mean(axis=axes)
    inv_std = 1 / xp.sqrt(var + eps)
    xhat = (x - _per_channel(mu, x.ndim)) * _per_channel(inv_std, x.ndim)
    y = xhat * _per_channel(gamma, x.ndim) + _per_channel(beta, x.ndim)
    return (xp.maximum(y, 0) if relu else y), mu, var, xhat, inv_std


@kernels.dispatch(cpu=cpu.batch_norm_backward)
def batch_norm_backward(dy, xhat, gamma, inv_std, y=None):
    """Reference: (dx, dgamma, dbeta) for the training-mode forward; y, the output of a forward
    with relu, first stops dy where the ReLU did (y = 0).

    With dxhat = dy gamma and M values per channel, the three paths through mu and var collapse to
        dx = inv_std / M (M dxhat - sum(dxhat) - xhat sum(dxhat xhat)).
    """
    if y is not None:
        dy = dy * (y > 0)
    axes = _axes(dy)
    m = dy.size // dy.shape[1]
    dbeta = dy.sum(axis=axes)                   # sum(dxhat) = gamma dbeta
    dgamma = (dy * xhat).sum(axis=axes)         # sum(dxhat xhat) = gamma dgamma
    dx = _per_channel(gamma * inv_std / m, dy.ndim) * (
        m * dy - _per_channel(dbeta, dy.ndim) - xhat * _per_channel(dgamma, dy.ndim))
    return dx, dgamma, dbeta


@kernels.dispatch(cpu=cpu.batch_norm_forward_eval)
def batch_norm_forward_eval(x, gamma, beta, mean, var, eps, keep_xhat=True, relu=False):
    """Reference: (y, xhat or None, inv_std (C,)) with the running statistics in place of the
    batch's: xhat = (x - mean) / sqrt(var + eps), y = gamma xhat + beta (relu: max(0, y))."""
    xp = get_array_module(x)
    inv_std = 1 / xp.sqrt(var + eps)
    xhat = (x - _per_channel(mean, x.ndim)) * _per_channel(inv_std, x.ndim)
    y = xhat * _per_channel(gamma, x.ndim) + _per_channel(beta, x.ndim)
    return (xp.maximum(y, 0) if relu else y), (xhat if keep_xhat else None), inv_std


class BatchNorm(Function):
    """x (N, C) or (N, C, H, W), gamma (C,), beta (C,) -> y, same shape as x; with relu,
    max(0, y) in the same pass (a ResNet's batch norm and the ReLU after it).

    Caches 1/sqrt(var + eps) and xhat (in evaluation only when dL/dgamma is wanted), and with
    relu the output y for its mask; in training also updates running_mean/var in place.
    """

    def forward(self, x, gamma, beta, running_mean, running_var, training, momentum, eps, relu):
        xp = get_array_module(x)
        c = x.shape[1]
        self.gamma = xp.ones(c, dtype=x.dtype) if gamma is None else gamma
        beta = xp.zeros(c, dtype=x.dtype) if beta is None else beta
        self.training = training
        fused = {"relu": True} if relu else {}      # (an exercise's own version takes no relu)
        if training:
            y, mu, var, self.xhat, self.inv_std = batch_norm_forward_train(x, self.gamma, beta, eps, **fused)
            self.y = y if relu else None
            if running_mean is not None:
                m = x.size // c
                running_mean *= 1 - momentum
                running_mean += momentum * mu
                running_var *= 1 - momentum
                running_var += momentum * var * (m / max(m - 1, 1))
            return y
        y, self.xhat, self.inv_std = batch_norm_forward_eval(
            x, self.gamma, beta, running_mean, running_var, eps, keep_xhat=self.needs_input_grad[1],
            **fused)
        self.y = y if relu else None
        return y

    def backward(self, g):
        need = self.needs_input_grad
        if self.training:
            fused = () if self.y is None else (self.y,)
            dx, dgamma, dbeta = batch_norm_backward(g, self.xhat, self.gamma, self.inv_std, *fused)
            return dx if need[0] else None, dgamma if need[1] else None, dbeta if need[2] else None
        if self.y is not None:      # through the ReLU first: 1 where y > 0
            g = relu_backward(g, self.y)
        axes = _axes(g)             # mu and var are constants: y is affine in x
        return (g * _per_channel(self.gamma * self.inv_std, g.ndim) if need[0] else None,
                (g * self.xhat).sum(axis=axes) if need[1] else None,     # xhat is kept only then
                g.sum(axis=axes) if need[2] else None)


def _check_running_statistics(running_mean, running_var) -> None:
    """Evaluation normalises by the running statistics: a NaN or infinite mean, or a variance
    that is negative or not a number (a damaged or hand-edited checkpoint), would turn every
    output of its channel into NaN without a word, so it is refused, the channel named."""
    xp = get_array_module(running_var)
    ok_mean = xp.isfinite(running_mean)
    ok_var = xp.isfinite(running_var) & (running_var >= 0)
    if bool((ok_mean & ok_var).all()):          # one reduction (one sync on a GPU) per call
        return
    for name, values, ok, want in (("running_mean", running_mean, ok_mean, "finite values"),
                                   ("running_var", running_var, ok_var, "finite values >= 0 (a variance)")):
        if not bool(ok.all()):
            ch = int((~ok).argmax())
            raise ShapeError("batch_norm", f"{name} of {want}", f"{float(values[ch])} in channel {ch}")


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5, relu=False):
    """Batch normalisation of (N, C) or (N, C, H, W), PyTorch's argument order.

    running_mean and running_var are raw arrays of shape (C,) (or None to always use batch
    statistics); in training they are updated in place. relu=True returns relu(batch_norm(x))
    from the same pass over the data, with the same values and gradients as the two ops.
    """
    batch_norm_arguments(x.shape, running_mean, running_var, weight, bias, training)
    return BatchNorm.apply(x, weight, bias, running_mean=running_mean, running_var=running_var,
                           training=training, momentum=momentum, eps=eps, relu=relu)


def batch_norm_arguments(shape, running_mean, running_var, weight, bias, training) -> None:
    """batch_norm's arguments for an input of this shape checked, and the running statistics
    that evaluation uses."""
    shape = tuple(shape)
    if len(shape) not in (2, 4):
        raise ShapeError("batch_norm", "input (N, C) or (N, C, H, W)", shape)
    c = shape[1]
    for name, v in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if v is not None and tuple(v.shape) != (c,):
            raise ShapeError("batch_norm", f"{name} of shape ({c},) for input {shape}",
                             tuple(v.shape))
    if running_mean is None and not training:
        raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
    if not training:
        _check_running_statistics(running_mean, running_var)
    if training and math.prod(shape) // c < 2:
        raise ValueError(f"batch_norm: training needs more than one value per channel, "
                         f"got input {shape}")
