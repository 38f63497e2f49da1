"""Exercise of lessons 10-12: freezing. A frozen weight (requires_grad False) must get no
gradient and cost no memory: the student's linear Function returns None for every input that
needs no gradient and keeps x only when dL/dW is wanted, as minidl's ops do
(``Function.needs_input_grad``)."""
from __future__ import annotations

import itertools

import numpy as np

from .. import Tensor, optim
from .. import functional as F
from .compare import assert_close
from .core import Check, CheckFailed, Exercise
from .engine import engine_gradcheck
from .lab import digit_splits
from .search import for_all, st

HINT = ("y = x W^T + b; dx = g W, dW = g^T x, db = sum of g over the rows; compute (and save what "
        "it needs) only for inputs with self.needs_input_grad[i] True, return None for the others")
NAMES = ("x", "W", "b")
CASES = st.fixed_dictionaries({"x": st.tuples(st.integers(1, 5), st.integers(1, 4)), "out": st.integers(1, 4),
                               "seed": st.integers(0, 2**16)})


def linear_inputs(case):
    rng = np.random.default_rng(case["seed"])
    n, d = case["x"]
    return rng.standard_normal((n, d)), rng.standard_normal((case["out"], d)), rng.standard_normal(case["out"])


def apply(student, arrays, trainable):
    linear = student.function("Linear")
    tensors = [Tensor(a, requires_grad=t) for a, t in zip(arrays, trainable)]
    return student.run("Linear.forward", linear.apply, *tensors), tensors


def values(student, examples):
    def test(case):
        arrays = linear_inputs(case)
        out, tensors = apply(student, arrays, (True, True, True))
        assert_close("y", out.data, F.linear(*[Tensor(a) for a in arrays]).data, hint=HINT)
        engine_gradcheck([], lambda *t: student.function("Linear").apply(*t), tensors, list(NAMES), HINT)
    for_all(CASES, test, examples)


def kept(fn, array) -> str | None:
    """The name of an attribute of fn holding ``array`` (or a view or copy of it), if any."""
    for name, value in vars(fn).items():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(item, np.ndarray) and item.size and (
                    np.shares_memory(item, array) or (item.shape == array.shape and np.array_equal(item, array))):
                return name
    return None


def frozen(student, examples):
    def test(case):
        arrays = linear_inputs(case)
        g = np.random.default_rng(case["seed"] + 1).standard_normal((case["x"][0], case["out"]))
        full, tensors = apply(student, arrays, (True, True, True))
        full.backward(g)
        for trainable in itertools.product((False, True), repeat=3):
            if not any(trainable):
                continue
            out, _ = apply(student, arrays, trainable)
            fn = out._ctx
            frozen_names = [n for n, t in zip(NAMES, trainable) if not t]
            where = f"with {', '.join(frozen_names) or 'nothing'} frozen"
            if not trainable[1] and kept(fn, arrays[0]) is not None:
                raise CheckFailed(f"{where}, Linear.forward kept x (as self.{kept(fn, arrays[0])}): only dL/dW "
                                  "needs x, and W gets no gradient", "save x only if self.needs_input_grad[1]")
            grads = student.run(f"Linear.backward ({where})", fn.backward, g)
            if not isinstance(grads, tuple) or len(grads) != 3:
                raise CheckFailed(f"{where}, Linear.backward returned {type(grads).__name__}, expected (dx, dW, db)")
            for name, t, got, tensor in zip(NAMES, trainable, grads, tensors):
                if not t and got is not None:
                    raise CheckFailed(f"{where}, Linear.backward returned a gradient for the frozen {name}",
                                      "return None where self.needs_input_grad[i] is False: no work for frozen weights")
                if t:
                    assert_close(f"d{name} ({where})", got, tensor.grad, hint=HINT)
    for_all(CASES, test, examples)


def lesson(student, examples):
    """Lesson 10's feature extraction in miniature: a frozen random body, a trained head."""
    x, y, xt, yt = (a.reshape(len(a), -1) if a.ndim > 1 else a for a in digit_splits())
    rng = np.random.default_rng(0)
    body = [Tensor(rng.standard_normal((64, 64)).astype(np.float32) / 8), Tensor(np.zeros(64, np.float32))]
    head = [Tensor(np.zeros((10, 64), np.float32), requires_grad=True), Tensor(np.zeros(10, np.float32), requires_grad=True)]
    saved = [p.data.copy() for p in body]
    linear = student.function("Linear")
    forward = lambda a: linear.apply(F.relu(linear.apply(Tensor(a), *body)), *head)    # noqa: E731
    opt = optim.SGD(body + head, lr=0.1, momentum=0.9)

    def train():
        for epoch in range(3):
            for i in range(0, 640, 32):
                opt.zero_grad()
                F.cross_entropy(forward(x[i:i + 32]), y[i:i + 32]).backward()
                opt.step()
        return float((forward(xt).data.argmax(axis=1) == yt).mean())
    accuracy = student.run("Linear (training a frozen body and a new head)", train)
    if any(not np.array_equal(p.data, s) or p.grad is not None for p, s in zip(body, saved)):
        raise CheckFailed("the frozen body's weights changed or got a gradient", HINT)
    if accuracy < 0.7:
        raise CheckFailed(f"a new head on a frozen random body, trained 3 epochs on 640 digits with your "
                          f"Linear, scores {accuracy:.1%} (it needs 70%)", HINT)


FREEZING = Exercise("freezing", "freezing: no gradient, and nothing saved, for frozen weights", "10, 11, 12",
                    ("Linear",), (
    Check("values", 4, "y = x W^T + b, and float64 gradcheck of dx, dW, db", values),
    Check("frozen", 4, "frozen inputs get None and x is not kept when W is frozen", frozen),
    Check("lesson", 2, "a frozen body with a new head: the body stays bit-identical, the head learns", lesson),
))

EXERCISES = (FREEZING,)
