"""Loss functions: cross-entropy, negative log-likelihood, mean squared error, logistic loss.

Each returns a single number (the mean over the batch unless ``reduction`` says otherwise) and
refuses inputs that would give a silently wrong answer: non-integer or out-of-range class labels,
mismatched shapes, NaN or infinite scores.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..tensor import Function, ShapeError, Tensor
from .basic import getitem
from .reduction import mean, sum


def _check_finite(name, x):
    xp = get_array_module(x.data)
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected floating-point scores, got dtype {x.dtype}")
    if not bool(xp.isfinite(x.data).all()):
        raise ValueError(f"{name}: the input contains NaN or infinite values "
                         f"(shape {x.shape}); a diverged model or bad data?")


def _check_labels(name, target, num_classes, expected_shape):
    t = target.data if isinstance(target, Tensor) else target
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class indices, got dtype {t.dtype}")
    if tuple(t.shape) != tuple(expected_shape):
        raise ShapeError(name, f"target of shape {tuple(expected_shape)}", tuple(t.shape))
    if t.size and (int(t.min()) < 0 or int(t.max()) >= num_classes):
        raise ValueError(f"{name}: target labels must lie in [0, {num_classes}), "
                         f"got min {int(t.min())}, max {int(t.max())}")
    return get_array_module(t).asarray(t, dtype=np.int64)


def softmax_cross_entropy(logits, target):
    """(mean of -log softmax(logits)[target], softmax probabilities), for logits (N, K)."""
    xp = get_array_module(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = xp.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    log_p = shifted - xp.log(total)
    loss = -log_p[xp.arange(len(target)), target].mean()
    return loss, e / total


class CrossEntropy(Function):
    """logits (N, K), target (N,) ints -> mean loss. Caches the softmax probabilities."""

    def forward(self, logits, target):
        loss, self.probs = softmax_cross_entropy(logits, target)
        self.target = target
        return get_array_module(logits).asarray(loss, dtype=logits.dtype)

    def backward(self, g):          # dL/dz = (softmax(z) - onehot(y)) / N
        xp = get_array_module(g)
        d = self.probs.copy()
        d[xp.arange(len(self.target)), self.target] -= 1
        return d * (g / len(self.target)), None


def cross_entropy(logits, target):
    """Softmax followed by the negative log-likelihood, fused for numerical stability.

    logits (N, K) with target (N,), or per-pixel logits (N, K, H, W) with target (N, H, W).
    """
    _check_finite("cross_entropy", logits)
    if logits.ndim == 4:            # segmentation: every pixel is one sample
        n, k, h, w = logits.shape
        target = _check_labels("cross_entropy", target, k, (n, h, w))
        logits = logits.permute(0, 2, 3, 1).reshape(n * h * w, k)
        target = target.reshape(-1)
    elif logits.ndim == 2:
        target = _check_labels("cross_entropy", target, logits.shape[1], logits.shape[:1])
    else:
        raise ShapeError("cross_entropy", "logits (N, K) or (N, K, H, W)", logits.shape)
    return CrossEntropy.apply(logits, Tensor(target))


def nll_loss(log_probs, target):
    """Mean of -log_probs[i, target[i]]. log_probs (N, K), target (N,) ints."""
    _check_finite("nll_loss", log_probs)
    if log_probs.ndim != 2:
        raise ShapeError("nll_loss", "log-probabilities (N, K)", log_probs.shape)
    t = _check_labels("nll_loss", target, log_probs.shape[1], log_probs.shape[:1])
    xp = get_array_module(t)
    return -mean(getitem(log_probs, (xp.arange(len(t)), t)))


def mse_loss(input, target, reduction="mean"):
    """Squared error. reduction: 'mean', 'sum', or 'half_sum' = 1/2 sum (y_hat - y)^2 (the lecture's)."""
    target = target if isinstance(target, Tensor) else Tensor(target)
    if input.shape != target.shape:
        raise ShapeError("mse_loss", f"target of shape {input.shape}", target.shape)
    _check_finite("mse_loss", input)
    diff = input - target
    if reduction == "mean":
        return mean(diff * diff)
    if reduction == "sum":
        return sum(diff * diff)
    if reduction == "half_sum":
        return 0.5 * sum(diff * diff)
    raise ValueError(f"mse_loss: reduction must be 'mean', 'sum' or 'half_sum', got {reduction!r}")


class BCEWithLogits(Function):
    def forward(self, z, t):
        xp = get_array_module(z)
        self.z, self.t = z, t
        # log(1 + e^z) - t z, written so that neither e^z nor e^-z can overflow
        loss = xp.maximum(z, 0) - z * t + xp.log1p(xp.exp(-xp.abs(z)))
        return loss.mean()

    def backward(self, g):          # dL/dz = (sigmoid(z) - t) / n
        xp = get_array_module(g)
        sig = xp.exp(-xp.logaddexp(0, -self.z))
        return g * (sig - self.t) / self.z.size, None


def binary_cross_entropy_with_logits(logits, target):
    """Mean logistic loss of raw scores against 0/1 (or soft) targets of the same shape."""
    target = target if isinstance(target, Tensor) else Tensor(target)
    if logits.shape != target.shape:
        raise ShapeError("binary_cross_entropy_with_logits", f"target of shape {logits.shape}",
                         target.shape)
    _check_finite("binary_cross_entropy_with_logits", logits)
    return BCEWithLogits.apply(logits, target.astype(logits.dtype))
