"""Exercises of lesson 5 and 13: im2col, the convolution's forward pass, col2im and the whole
backward pass.

Each is graded through the op's dispatch: the student's function replaces minidl's im2col /
conv2d_forward / col2im / conv2d_backward inside F.conv2d (the plain kernels forced, so the
reference convolution calls the student's im2col and col2im), so the values, the gradcheck and
the lab CNN all run it.
"""
from __future__ import annotations

import numpy as np

from .. import Tensor
from .. import functional as F
from ..functional.conv import col2im, conv2d_backward, conv2d_forward, im2col
from .compare import assert_close
from .core import Check, CheckFailed, Exercise
from .engine import engine_gradcheck
from .lab import cnn_learns
from .search import conv_cases, for_all

SIZE_HINT = "OH = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1, and the same for OW"
LAYOUT_HINT = ("row r = (c kh + i) kw + j is channel c at kernel offset (i, j); column n OH OW + p is "
               "image n's window at output position p; offset (i, j) reads the zero-padded input at "
               "(oh stride + i dilation, ow stride + j dilation)")


def inputs(case, dtype=np.float64):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal(case["x"]).astype(dtype)
    return x, rng.standard_normal(case["w"]).astype(dtype), rng.standard_normal(case["w"][0]).astype(dtype)


def geometry(case):
    return case["w"][2], case["w"][3], case["stride"], case["padding"], case["dilation"]


def im2col_with_out(student):
    fn = student.wrap("im2col")

    def student_im2col(x, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1), out=None):
        cols = fn(x, kh, kw, stride, padding, dilation)
        if out is None:
            return cols
        out[...] = cols
        return out
    return student_im2col


# ----- im2col --------------------------------------------------------------------------------
def im2col_values(student, examples):
    def test(case):
        x = inputs(case)[0]
        assert_close("cols", student.call("im2col", x, *geometry(case)), im2col.reference(x, *geometry(case)),
                     dtype=x.dtype, hint=f"{LAYOUT_HINT}; {SIZE_HINT}")
    for_all(conv_cases(), test, examples)
    case = {"x": (2, 3, 5, 4), "w": (1, 3, 3, 2), "stride": (2, 1), "padding": (1, 0), "dilation": (1, 1), "seed": 1}
    x32 = inputs(case, np.float32)[0]
    got = student.call("im2col", x32, *geometry(case))
    assert_close("cols (float32 input)", got, im2col.reference(x32, *geometry(case)), dtype=np.float32)


def conv_gradcheck(overrides, student_op: str, grads=("x", "w", "b"), hint=LAYOUT_HINT):
    def test(case):
        x, w, b = inputs(case)
        tensors = {"x": Tensor(x, requires_grad="x" in grads), "w": Tensor(w, requires_grad="w" in grads),
                   "b": Tensor(b, requires_grad="b" in grads)}
        args = (case["stride"], case["padding"], case["dilation"], case.get("groups", 1))
        engine_gradcheck(overrides, lambda x, w, b: F.conv2d(x, w, b, *args), list(tensors.values()),
                         list(tensors), f"F.conv2d runs your {student_op}; {hint}")
    return test


def im2col_gradcheck(student, examples):
    for_all(conv_cases(), conv_gradcheck([(im2col, im2col_with_out(student))], "im2col"), examples)


def im2col_lab(student, examples):
    cnn_learns([(im2col, im2col_with_out(student))], "im2col")


IM2COL = Exercise("im2col", "im2col: every window of a batch as one column", "05, 13", ("im2col",), (
    Check("values", 4, "columns equal minidl's for drawn shapes, strides, paddings, dilations", im2col_values),
    Check("gradcheck", 4, "F.conv2d with your im2col passes float64 gradcheck", im2col_gradcheck),
    Check("lesson", 2, "the digits CNN learns with your im2col", im2col_lab),
))


# ----- conv2d_forward -----------------------------------------------------------------------
FORWARD_HINT = ("y = W.reshape(F, C kh kw) @ cols + b: (F, N OH OW), transposed to (N, F, OH, OW); with "
                "groups, group k's F/g filters see only its C/g channels")


def conv_values(student, examples):
    def test(case):
        x, w, b = inputs(case)
        args = (case["stride"], case["padding"], case["dilation"], case["groups"])
        assert_close("y", student.call("conv2d_forward", x, w, b, *args), conv2d_forward.reference(x, w, b, *args),
                     dtype=x.dtype, hint=f"{FORWARD_HINT} (here groups={case['groups']})")
        assert_close("y without bias", student.call("conv2d_forward", x, w, None, *args),
                     conv2d_forward.reference(x, w, None, *args), dtype=x.dtype, hint="b=None: no bias")
    for_all(conv_cases(groups=True), test, examples)


def conv_forward_gradcheck(student, examples):
    for_all(conv_cases(groups=True), conv_gradcheck([(conv2d_forward, student.wrap("conv2d_forward"))],
                                                    "conv2d_forward", hint=FORWARD_HINT), examples)


def conv_lab(student, examples):
    cnn_learns([(conv2d_forward, student.wrap("conv2d_forward"))], "conv2d_forward")


CONV2D = Exercise("conv2d_forward", "the convolution's forward pass: im2col and one matrix product", "05, 13",
                  ("conv2d_forward",), (
    Check("values", 4, "y equals minidl's, with groups, with and without bias", conv_values),
    Check("gradcheck", 4, "F.conv2d with your forward passes float64 gradcheck", conv_forward_gradcheck),
    Check("lesson", 2, "the digits CNN learns with your conv2d_forward", conv_lab),
))


# ----- conv2d_backward -------------------------------------------------------------------------
BACKWARD_HINT = ("G = dL/dy laid out as (g, F/g, N OH OW); dL/dW = G cols^T reshaped to (F, C/g, kh, kw); "
                 "dL/dx = col2im(W^T G)")


def conv_backward_values(student, examples):
    def test(case):
        x, w, _ = inputs(case)
        args = (case["stride"], case["padding"], case["dilation"], case["groups"])
        g = np.random.default_rng(case["seed"] + 1).standard_normal(conv2d_forward.reference(x, w, None, *args).shape)
        expected = conv2d_backward.reference(g, x, w, *args)
        for need_dx, need_dw in ((True, True), (True, False), (False, True)):
            got = student.call("conv2d_backward", g, x, w, *args, need_dx=need_dx, need_dw=need_dw)
            if not isinstance(got, tuple) or len(got) != 2:
                raise CheckFailed(f"conv2d_backward returned {type(got).__name__}, expected a pair (dx, dw)")
            for name, need, mine, right in (("dx", need_dx, got[0], expected[0]), ("dw", need_dw, got[1], expected[1])):
                if need:
                    assert_close(name, mine, right, dtype=x.dtype, hint=BACKWARD_HINT)
                elif mine is not None:
                    raise CheckFailed(f"conv2d_backward(need_{name}=False) returned {name}",
                                      f"return None for {name} when need_{name} is False: no work nobody asked for")
    for_all(conv_cases(groups=True), test, examples)


def conv_backward_gradcheck(student, examples):
    for_all(conv_cases(groups=True), conv_gradcheck([(conv2d_backward, student.wrap("conv2d_backward"))],
                                                    "conv2d_backward", hint=BACKWARD_HINT), examples)


def conv_backward_lab(student, examples):
    cnn_learns([(conv2d_backward, student.wrap("conv2d_backward"))], "conv2d_backward")


CONV2D_BACKWARD = Exercise("conv2d_backward", "the convolution's backward pass: dL/dW and dL/dx", "13",
                           ("conv2d_backward",), (
    Check("values", 4, "dx and dw equal minidl's, with groups; None where not wanted", conv_backward_values),
    Check("gradcheck", 4, "F.conv2d with your backward passes float64 gradcheck", conv_backward_gradcheck),
    Check("lesson", 2, "the digits CNN learns with your conv2d_backward", conv_backward_lab),
))


# ----- col2im ---------------------------------------------------------------------------------
def col2im_values(student, examples):
    def test(case):
        x = inputs(case)[0]
        cols = np.random.default_rng(case["seed"] + 1).standard_normal(im2col.reference(x, *geometry(case)).shape)
        assert_close("dx", student.call("col2im", cols, x.shape, *geometry(case)),
                     col2im.reference(cols, x.shape, *geometry(case)), dtype=cols.dtype,
                     hint=f"col2im is im2col run backwards: ADD (+=) each column entry into the padded "
                          f"image where im2col read it, then cut the padding off; {LAYOUT_HINT}")
    for_all(conv_cases(), test, examples)


def col2im_gradcheck(student, examples):
    for_all(conv_cases(), conv_gradcheck([(col2im, student.wrap("col2im"))], "col2im", grads=("x",)), examples)


def col2im_lab(student, examples):
    cnn_learns([(col2im, student.wrap("col2im"))], "col2im")


COL2IM = Exercise("col2im", "the convolution's backward pass: col2im sums columns back into the image",
                  "13", ("col2im",), (
    Check("values", 4, "dx equals minidl's col2im for drawn shapes, strides, paddings, dilations", col2im_values),
    Check("gradcheck", 4, "dL/dx of F.conv2d (your col2im) passes float64 gradcheck", col2im_gradcheck),
    Check("lesson", 2, "the digits CNN learns with your col2im", col2im_lab),
))

EXERCISES = (IM2COL, CONV2D, COL2IM, CONV2D_BACKWARD)
