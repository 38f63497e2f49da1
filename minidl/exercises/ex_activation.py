"""Exercises of lesson 4: the backward passes of sigmoid, tanh and ReLU.

ReLU's backward is a dispatched op (``relu_backward``): the student's runs inside F.relu and the
digits CNN. Sigmoid's and tanh's backward are methods of minidl's Functions: the student's is
compared with them and gradchecked inside a Function whose forward is minidl's.
"""
from __future__ import annotations

import numpy as np

from .. import Tensor
from .. import functional as F
from ..functional.activation import Sigmoid, Tanh, relu_backward
from .compare import assert_close
from .core import Check, Exercise
from .engine import engine_gradcheck
from .lab import cnn_learns
from .search import distinct, for_all, shapes, st

HINTS = {"sigmoid": "sigma'(x) = sigma(x) (1 - sigma(x)), with y = sigma(x) given: dx = dy y (1 - y)",
         "tanh": "tanh'(x) = 1 - tanh(x)^2, with y = tanh(x) given: dx = dy (1 - y^2)",
         "relu": "ReLU'(x) = 1 where x > 0, else 0: the gradient passes where y > 0 (y = 0 blocks it)"}
CASES = st.fixed_dictionaries({"x": shapes(1, 4), "scale": st.sampled_from([0.5, 3.0]), "seed": st.integers(0, 2**16)})


def arrays(case, dtype=np.float64):
    rng = np.random.default_rng(case["seed"])
    return ((distinct(case["x"], rng) * case["scale"]).astype(dtype),
            rng.standard_normal(case["x"]).astype(dtype))


def function_backward(cls, x, dy):
    fn = cls()
    fn.needs_input_grad = (True,)
    y = fn.forward(x)
    return y, fn.backward(dy)[0]


def smooth_exercise(name, cls, forward):
    fn_name = f"{name}_backward"

    def values(student, examples):
        def test(case):
            for dtype in (np.float64, np.float32):
                x, dy = arrays(case, dtype)
                y, expected = function_backward(cls, x, dy)
                assert_close("dx", student.call(fn_name, dy, y), expected, dtype=dtype, hint=HINTS[name])
        for_all(CASES, test, examples)

    def grads(student, examples):
        class Graded(cls):
            def backward(self, g):
                return (student.call(fn_name, g, self.y),)

        def test(case):
            x = Tensor(arrays(case)[0], requires_grad=True)
            engine_gradcheck([], lambda x: Graded.apply(x), [x], ["x"], HINTS[name])
        for_all(CASES, test, examples)

    return Exercise(fn_name, f"{name}'s backward pass, from its output y", "04", (fn_name,), (
        Check("values", 5, f"dx equals minidl's {cls.__name__}.backward (float64 and float32)", values),
        Check("gradcheck", 5, f"{forward} with your backward passes float64 gradcheck", grads),
    ))


def relu_values(student, examples):
    def test(case):
        for dtype in (np.float64, np.float32):
            x, dy = arrays(case, dtype)
            y = np.maximum(x, 0)
            assert_close("dx", student.call("relu_backward", dy, y), relu_backward.reference(dy, y),
                         dtype=dtype, hint=HINTS["relu"])
    for_all(CASES, test, examples)


def relu_gradcheck(student, examples):
    def test(case):
        x = Tensor(arrays(case)[0], requires_grad=True)
        engine_gradcheck([(relu_backward, student.wrap("relu_backward"))], F.relu, [x], ["x"], HINTS["relu"])
    for_all(CASES, test, examples)


def relu_lab(student, examples):
    cnn_learns([(relu_backward, student.wrap("relu_backward"))], "relu_backward")


RELU = Exercise("relu_backward", "ReLU's backward pass, from its output y", "04, 06", ("relu_backward",), (
    Check("values", 4, "dx equals minidl's relu_backward (float64 and float32)", relu_values),
    Check("gradcheck", 4, "F.relu with your backward passes float64 gradcheck", relu_gradcheck),
    Check("lesson", 2, "the digits CNN learns with your relu_backward", relu_lab),
))

EXERCISES = (smooth_exercise("sigmoid", Sigmoid, "F.sigmoid"), smooth_exercise("tanh", Tanh, "F.tanh"), RELU)
