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


def _check_labels(name, target, num_classes, expected_shape, ignore_index=None):
    t = target.data if isinstance(target, Tensor) else target
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class indices, got dtype {t.dtype}")
    if tuple(t.shape) != tuple(expected_shape):
        raise ShapeError(name, f"target of shape {tuple(expected_shape)}", tuple(t.shape))
    real = t if ignore_index is None else t[t != ignore_index]
    if real.size and (int(real.min()) < 0 or int(real.max()) >= num_classes):
        ignored = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
        raise ValueError(f"{name}: target labels must lie in [0, {num_classes}){ignored}, "
                         f"got min {int(real.min())}, max {int(real.max())}")
    return get_array_module(t).asarray(t, dtype=np.int64)


REDUCTIONS = ("mean", "sum", "none")


def _class_last(name, x):
    """Scores (N, C, d1..dk) or (C,) as rows (M, C) with the class dim last, and the shape of
    the per-element loss: target's, (N, d1..dk) (or () for a single unbatched sample)."""
    if x.ndim < 1:
        raise ShapeError(name, "scores (N, C, d1, ..., dk) or (C,)", x.shape)
    if x.ndim == 1:
        return x.reshape(1, -1), (), x.shape[0]
    c = x.shape[1]
    out_shape = (x.shape[0],) + x.shape[2:]
    rows = x if x.ndim == 2 else x.permute(0, *range(2, x.ndim), 1).reshape(-1, c)
    return rows, out_shape, c


def _reduce(name, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _class_weight(name, weight, c, like):
    if weight is None:
        return None
    w = weight.data if isinstance(weight, Tensor) else weight
    w = get_array_module(like).asarray(w, dtype=like.dtype)
    if w.shape != (c,):
        raise ShapeError(name, f"weight of shape ({c},), one per class", tuple(w.shape))
    return w


def soft_targets(target, c, weight, ignore_index, label_smoothing, dtype, xp):
    """(Q (M, C), denominator of the mean) for class indices ``target`` (M,):
        Q[m, c] = w_c ((1 - eps) [c == t_m] + eps / C),  0 on rows where t_m == ignore_index,
    so that loss_m = -sum_c Q[m, c] log p[m, c]; the mean divides by sum of w_{t_m} (PyTorch's)."""
    keep = target != ignore_index if ignore_index is not None else xp.ones(len(target), bool)
    t = xp.where(keep, target, 0)
    q = xp.full((len(t), c), label_smoothing / c, dtype=dtype)
    q[xp.arange(len(t)), t] += 1 - label_smoothing
    if weight is not None:
        q *= weight
    q *= keep[:, None]
    denominator = (weight[t] * keep).sum() if weight is not None else keep.sum()
    return q, denominator


def log_softmax_rows(z):
    """(log softmax of rows (M, C), softmax) with the max shifted out, so nothing overflows."""
    xp = get_array_module(z)
    shifted = z - z.max(axis=1, keepdims=True)
    e = xp.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    return shifted - xp.log(total), e / total


def softmax_cross_entropy(logits, target):
    """(mean of -log softmax(logits)[target], softmax probabilities), for logits (N, K)."""
    xp = get_array_module(logits)
    log_p, probs = log_softmax_rows(logits)
    return -log_p[xp.arange(len(target)), target].mean(), probs


class CrossEntropy(Function):
    """logits (M, C), soft targets Q (M, C) -> per-row loss_m = -sum_c Q[m, c] log softmax(z_m)_c,
    then reduced: 'none' (M,), 'sum', or 'mean' = sum / denominator. Caches the softmax.
    A target of class indices (M,) stands for its one-hot Q (the plain mean over M)."""

    def forward(self, logits, q, reduction="mean", denominator=None):
        log_p, self.probs = log_softmax_rows(logits)
        if q.ndim == 1:
            q, denominator = soft_targets(q, logits.shape[1], None, None, 0.0, logits.dtype,
                                          get_array_module(logits))
        self.q, self.reduction, self.denominator = q, reduction, denominator
        loss = -(q * log_p).sum(axis=1)
        if reduction == "none":
            return loss
        total = loss.sum()
        return (total / denominator if reduction == "mean" else total).astype(logits.dtype)

    def backward(self, g):          # dloss_m/dz_mj = p_mj sum_c Q_mc - Q_mj
        if self.reduction == "none":
            g = g[:, None]
        elif self.reduction == "mean":
            g = g / self.denominator
        d = self.probs * self.q.sum(axis=1, keepdims=True) - self.q
        return d * g, None


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Softmax followed by the negative log-likelihood, fused for numerical stability (PyTorch's
    F.cross_entropy, its arguments and defaults).

    input   logits (N, C), per-pixel (N, C, H, W) or any (N, C, d1..dk), or one sample (C,)
    target  class indices (N, d1..dk) (int; () for one sample), or class probabilities of
            input's shape (float)
    weight  (C,) a weight per class;  ignore_index  a label whose elements count for nothing
    reduction  'mean' (over the elements, weighted: divided by the sum of their classes'
            weights), 'sum', or 'none' (the loss of every element, target's shape)
    label_smoothing  eps: the target becomes (1 - eps) one_hot + eps / C, so with weights
            loss_n = -(1 - eps) w_{y_n} log p_{n,y_n} - (eps / C) sum_c w_c log p_{n,c}
    """
    name = "cross_entropy"
    _check_finite(name, input)
    _reduce(name, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must lie in [0, 1], got {label_smoothing!r}")
    rows, out_shape, c = _class_last(name, input)
    xp = get_array_module(rows.data)
    w = _class_weight(name, weight, c, rows.data)
    t = target.data if isinstance(target, Tensor) else target
    t = xp.asarray(t)
    if t.dtype.kind == "f":                         # class probabilities, one row per element
        if tuple(t.shape) != input.shape:
            raise TypeError(f"{name}: target must hold integer class indices {out_shape} or class "
                            f"probabilities of input's shape {input.shape}, got dtype {t.dtype} "
                            f"shape {tuple(t.shape)}")
        q = Tensor(t if input.ndim > 1 else t[None]).astype(rows.dtype)
        q = (q if input.ndim <= 2 else q.permute(0, *range(2, input.ndim), 1).reshape(-1, c)).data
        q = q * (1 - label_smoothing) + label_smoothing / c
        if w is not None:
            q = q * w
        denominator = len(q)
    else:
        t = _check_labels(name, t, c, out_shape, ignore_index).reshape(-1)
        q, denominator = soft_targets(t, c, w, ignore_index, label_smoothing, rows.dtype, xp)
    loss = CrossEntropy.apply(rows, Tensor(q), reduction=reduction, denominator=denominator)
    return loss.reshape(out_shape) if reduction == "none" else loss


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """-w_{y_n} input[n, y_n] per element (PyTorch's F.nll_loss): input holds log-probabilities
    (N, C) or (N, C, d1..dk), target class indices (N, d1..dk); reduction and ignore_index as in
    cross_entropy (the weighted mean divides by the sum of the elements' class weights)."""
    name = "nll_loss"
    _check_finite(name, input)
    _reduce(name, reduction)
    rows, out_shape, c = _class_last(name, input)
    xp = get_array_module(rows.data)
    w = _class_weight(name, weight, c, rows.data)
    t = _check_labels(name, target, c, out_shape, ignore_index).reshape(-1)
    keep = t != ignore_index
    safe = xp.where(keep, t, 0)
    scale = (w[safe] if w is not None else xp.ones(len(t), rows.dtype)) * keep
    loss = -(getitem(rows, (xp.arange(len(t)), safe)) * Tensor(scale.astype(rows.dtype)))
    if reduction == "none":
        return loss.reshape(out_shape)
    return sum(loss) if reduction == "sum" else sum(loss) / Tensor(scale.sum().astype(rows.dtype))


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
