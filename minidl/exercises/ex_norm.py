"""Exercises of lesson 6 (and 7): batch normalisation's forward pass (training and evaluation)
and its backward pass, all three dispatched ops run inside F.batch_norm and the digits CNN."""
from __future__ import annotations

import numpy as np

from .. import Tensor
from .. import functional as F
from ..functional.norm import batch_norm_backward, batch_norm_forward_eval, batch_norm_forward_train
from .compare import assert_close
from .core import Check, CheckFailed, Exercise
from .engine import engine_gradcheck
from .lab import cnn_learns
from .search import for_all, st

EPS = 1e-5
TRAIN_HINT = ("per channel over the batch (and H, W): mu = mean, var = mean (x - mu)^2 (biased, 1/m), "
              "inv_std = 1 / sqrt(var + eps), xhat = (x - mu) inv_std, y = gamma xhat + beta")
EVAL_HINT = "the running mean and var replace the batch's: xhat = (x - mean) / sqrt(var + eps), y = gamma xhat + beta"
BACKWARD_HINT = ("dbeta = sum dy, dgamma = sum dy xhat (over all but the channel axis); with m values per "
                 "channel dx = gamma inv_std / m (m dy - dbeta - xhat dgamma)")
CASES = st.fixed_dictionaries({
    "x": st.one_of(st.tuples(st.integers(2, 6), st.integers(1, 4)),
                   st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))),
    "seed": st.integers(0, 2**16)}).filter(lambda c: np.prod(c["x"]) // c["x"][1] >= 2)


def bn_inputs(case, dtype=np.float64):
    rng = np.random.default_rng(case["seed"])
    c = case["x"][1]
    x = (rng.standard_normal(case["x"]) * 2 + 1).astype(dtype)
    return (x, (rng.standard_normal(c) + 1).astype(dtype), rng.standard_normal(c).astype(dtype),
            rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype), rng)


def compare_all(names, got, expected, dtype, hint, fn):
    if not isinstance(got, tuple) or len(got) != len(expected):
        raise CheckFailed(f"{fn} returned {type(got).__name__}, expected a tuple ({', '.join(names)})")
    for name, g, e in zip(names, got, expected):
        if e is not None:
            assert_close(name, g, e, dtype=dtype, hint=hint)


def forward_values(student, examples):
    def test(case):
        for dtype in (np.float64, np.float32):
            x, gamma, beta, mean, var, _ = bn_inputs(case, dtype)
            compare_all(("y", "mean", "var", "xhat", "inv_std"),
                        student.call("batch_norm_forward_train", x, gamma, beta, EPS),
                        batch_norm_forward_train.reference(x, gamma, beta, EPS), dtype, TRAIN_HINT,
                        "batch_norm_forward_train")
            compare_all(("y", "xhat", "inv_std"), student.call("batch_norm_forward_eval", x, gamma, beta, mean, var, EPS),
                        batch_norm_forward_eval.reference(x, gamma, beta, mean, var, EPS), dtype, EVAL_HINT,
                        "batch_norm_forward_eval")
            got = student.call("batch_norm_forward_eval", x, gamma, beta, mean, var, EPS, keep_xhat=False)
            if isinstance(got, tuple) and len(got) == 3:
                assert_close("y (keep_xhat=False)", got[0], batch_norm_forward_eval.reference(
                    x, gamma, beta, mean, var, EPS)[0], dtype=dtype, hint=EVAL_HINT)
    for_all(CASES, test, examples)


def bn_gradcheck(overrides, training, what):
    def test(case):
        x, gamma, beta, mean, var, _ = bn_inputs(case)
        tensors = [Tensor(a, requires_grad=True) for a in (x, gamma, beta)]
        engine_gradcheck(overrides, lambda x, g, b: F.batch_norm(x, mean.copy(), var.copy(), g, b, training=training),
                         tensors, ["x", "gamma", "beta"], f"F.batch_norm(training={training}) runs your {what}")
    return test


def forward_gradcheck(student, examples):
    train = [(batch_norm_forward_train, student.wrap("batch_norm_forward_train"))]
    evaluation = [(batch_norm_forward_eval, student.wrap("batch_norm_forward_eval"))]
    for_all(CASES, bn_gradcheck(train, True, "batch_norm_forward_train (its xhat, inv_std feed backward)"), examples)
    for_all(CASES, bn_gradcheck(evaluation, False, "batch_norm_forward_eval"), examples)


def forward_lab(student, examples):
    cnn_learns([(batch_norm_forward_train, student.wrap("batch_norm_forward_train")),
                (batch_norm_forward_eval, student.wrap("batch_norm_forward_eval"))],
               "batch_norm_forward_train and _eval (evaluation mode scores the test set)")


def backward_values(student, examples):
    def test(case):
        for dtype in (np.float64, np.float32):
            x, gamma, beta, _, _, rng = bn_inputs(case, dtype)
            _, _, _, xhat, inv_std = batch_norm_forward_train.reference(x, gamma, beta, EPS)
            dy = rng.standard_normal(x.shape).astype(dtype)
            compare_all(("dx", "dgamma", "dbeta"), student.call("batch_norm_backward", dy, xhat, gamma, inv_std),
                        batch_norm_backward.reference(dy, xhat, gamma, inv_std), dtype, BACKWARD_HINT,
                        "batch_norm_backward")
    for_all(CASES, test, examples)


def backward_gradcheck(student, examples):
    for_all(CASES, bn_gradcheck([(batch_norm_backward, student.wrap("batch_norm_backward"))], True,
                                "batch_norm_backward"), examples)


def backward_lab(student, examples):
    cnn_learns([(batch_norm_backward, student.wrap("batch_norm_backward"))], "batch_norm_backward")


EXERCISES = (
    Exercise("batch_norm_forward", "batch norm's forward pass, training (batch statistics) and evaluation "
             "(running statistics)", "06, 07", ("batch_norm_forward_train", "batch_norm_forward_eval"), (
        Check("values", 4, "y, mean, var, xhat, inv_std equal minidl's, (N, C) and (N, C, H, W)", forward_values),
        Check("gradcheck", 4, "F.batch_norm (training and evaluation) with your forward passes gradcheck",
              forward_gradcheck),
        Check("lesson", 2, "the digits CNN learns with your batch norm forward", forward_lab))),
    Exercise("batch_norm_backward", "batch norm's backward pass in training mode", "06, 07",
             ("batch_norm_backward",), (
        Check("values", 4, "dx, dgamma, dbeta equal minidl's, (N, C) and (N, C, H, W)", backward_values),
        Check("gradcheck", 4, "F.batch_norm with your backward passes float64 gradcheck", backward_gradcheck),
        Check("lesson", 2, "the digits CNN learns with your batch_norm_backward", backward_lab))),
)
