"""Exercises of lesson 5: max-pooling's forward pass (with the argmax it keeps) and backward.

Both are dispatched ops: the student's runs inside F.max_pool2d and the digits CNN. Inputs hold
distinct values, so every window has one maximum and the gradient is defined.
"""
from __future__ import annotations

import numpy as np

from .. import Tensor
from .. import functional as F
from ..functional.pool import max_pool2d_backward, max_pool2d_forward
from .compare import assert_close, assert_equal
from .core import Check, CheckFailed, Exercise
from .engine import engine_gradcheck
from .lab import cnn_learns
from .search import distinct, for_all, pool_cases

FORWARD_HINT = ("OH = (H + 2 padding - kh) // stride + 1; padding counts as -inf; argmax is the flat "
                "index row * W + col into the UNPADDED H x W plane of the window's winner")
BACKWARD_HINT = ("dx[n, c] is zero except at each window's argmax, where dout is ADDED (+=): overlapping "
                 "windows (stride < kernel) can pick the same input twice")


def pool_inputs(case, dtype=np.float64):
    rng = np.random.default_rng(case["seed"])
    return distinct(case["x"], rng).astype(dtype), rng


def forward_values(student, examples):
    def test(case):
        x, _ = pool_inputs(case)
        args = (*case["kernel"], case["stride"], case["padding"])
        out, argmax = max_pool2d_forward.reference(x, *args)
        got = student.call("max_pool2d_forward", x, *args)
        if not isinstance(got, tuple) or len(got) != 2:
            raise CheckFailed(f"max_pool2d_forward returned {type(got).__name__}, expected a pair (out, argmax)")
        assert_close("out", got[0], out, dtype=x.dtype, hint=FORWARD_HINT)
        assert_equal("argmax", got[1], argmax, hint=FORWARD_HINT)
    for_all(pool_cases(), test, examples)


def pool_gradcheck(overrides, what, hint):
    def test(case):
        x = Tensor(pool_inputs(case)[0], requires_grad=True)
        engine_gradcheck(overrides, lambda x: F.max_pool2d(x, case["kernel"], case["stride"], case["padding"]),
                         [x], ["x"], f"F.max_pool2d runs your {what}; {hint}")
    return test


def forward_gradcheck(student, examples):
    for_all(pool_cases(), pool_gradcheck([(max_pool2d_forward, student.wrap("max_pool2d_forward"))],
                                         "max_pool2d_forward (its argmax routes the gradient)", FORWARD_HINT),
            examples)


def forward_lab(student, examples):
    cnn_learns([(max_pool2d_forward, student.wrap("max_pool2d_forward"))], "max_pool2d_forward")


def backward_values(student, examples):
    def test(case):
        x, rng = pool_inputs(case)
        out, argmax = max_pool2d_forward.reference(x, *case["kernel"], case["stride"], case["padding"])
        dout = rng.standard_normal(out.shape)
        assert_close("dx", student.call("max_pool2d_backward", dout, argmax, x.shape),
                     max_pool2d_backward.reference(dout, argmax, x.shape), dtype=dout.dtype, hint=BACKWARD_HINT)
    for_all(pool_cases(), test, examples)


def backward_gradcheck(student, examples):
    for_all(pool_cases(), pool_gradcheck([(max_pool2d_backward, student.wrap("max_pool2d_backward"))],
                                         "max_pool2d_backward", BACKWARD_HINT), examples)


def backward_lab(student, examples):
    cnn_learns([(max_pool2d_backward, student.wrap("max_pool2d_backward"))], "max_pool2d_backward")


EXERCISES = (
    Exercise("max_pool2d_forward", "max-pooling: each window's maximum and where it was", "05",
             ("max_pool2d_forward",), (
        Check("values", 4, "out and argmax equal minidl's for drawn kernels, strides, paddings", forward_values),
        Check("gradcheck", 4, "F.max_pool2d with your forward passes float64 gradcheck", forward_gradcheck),
        Check("lesson", 2, "the digits CNN learns with your max_pool2d_forward", forward_lab))),
    Exercise("max_pool2d_backward", "max-pooling's backward pass: the gradient goes to each window's winner",
             "05", ("max_pool2d_backward",), (
        Check("values", 4, "dx equals minidl's for drawn kernels, strides, paddings", backward_values),
        Check("gradcheck", 4, "F.max_pool2d with your backward passes float64 gradcheck", backward_gradcheck),
        Check("lesson", 2, "the digits CNN learns with your max_pool2d_backward", backward_lab))),
)
