"""Every elementary op's backward against float64 central differences (minidl.gradcheck).

Tolerance: |analytic - numerical| <= 1e-6 + 1e-4 |numerical| (gradcheck's atol/rtol below);
central differences with eps = 1e-6 in float64 are accurate to about 1e-8 here.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl import Tensor, gradcheck
from minidl import functional as F

TOL = dict(atol=1e-6, rtol=1e-4)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def rand(shape, seed, low=-2.0, high=2.0, grad=True):
    return Tensor(np.random.default_rng(seed).uniform(low, high, shape), requires_grad=grad)


@settings(max_examples=20)
@given(shape=shapes, seed=st.integers(0, 2**16), op=st.sampled_from(["add", "sub", "mul", "div"]))
def test_binary_arithmetic_with_broadcasting(shape, seed, op):
    a = rand(shape, seed)
    b = rand(shape[-1:], seed + 1, 0.5, 2.0)        # broadcast along the leading axes
    fn = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b,
          "mul": lambda a, b: a * b, "div": lambda a, b: a / b}[op]
    gradcheck(fn, [a, b], **TOL)


@settings(max_examples=25)
@given(shape=shapes, seed=st.integers(0, 2**16),
       op=st.sampled_from(["neg", "exp", "log", "sqrt", "abs", "pow", "clip", "rpow"]))
def test_unary_ops(shape, seed, op):
    positive = op in ("log", "sqrt", "pow")
    x = rand(shape, seed, 0.5 if positive else -2.0, 2.0)
    if op in ("abs", "clip"):                       # keep away from the kinks at 0 and +-1
        x.data[np.abs(x.data) < 0.05] = 0.3
        x.data[np.abs(np.abs(x.data) - 1) < 0.05] = 0.5
    fn = {"neg": lambda x: -x, "exp": F.exp, "log": F.log, "sqrt": F.sqrt, "abs": F.abs,
          "pow": lambda x: x ** 2.5, "clip": lambda x: F.clip(x, -1.0, 1.0),
          "rpow": lambda x: x ** 3}[op]
    gradcheck(fn, [x], **TOL)


@settings(max_examples=20)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=3).map(tuple), seed=st.integers(0, 2**16),
       keepdims=st.booleans(), op=st.sampled_from(["sum", "mean", "max", "var"]))
def test_reductions_over_each_axis_choice(shape, seed, keepdims, op):
    x = rand(shape, seed)
    for axis in [None, 0, -1, (0, len(shape) - 1)]:
        if op == "var" and np.prod([shape[a] for a in np.atleast_1d(axis if axis is not None else range(len(shape)))]) < 2:
            continue
        gradcheck(lambda x: getattr(x, op)(axis=axis, keepdims=keepdims), [x], **TOL)


def test_max_shares_the_gradient_between_ties():
    x = Tensor(np.array([1.0, 3.0, 3.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.5, 0.5])


def test_maximum_and_var_correction():
    a, b = rand((3, 4), 1), rand((3, 4), 2)
    gradcheck(F.maximum, [a, b], **TOL)
    x = rand((5,), 3)
    np.testing.assert_allclose(x.var().item(), np.var(x.data, ddof=1))
    np.testing.assert_allclose(x.var(correction=0).item(), np.var(x.data))


@settings(max_examples=15)
@given(seed=st.integers(0, 2**16))
def test_shape_ops(seed):
    x = rand((2, 3, 4), seed)
    gradcheck(lambda x: x.reshape(4, 6) * Tensor(np.arange(24.0).reshape(4, 6)), [x], **TOL)
    gradcheck(lambda x: x.permute(2, 0, 1), [x], **TOL)
    gradcheck(lambda x: x.transpose(0, 2), [x], **TOL)
    gradcheck(lambda x: x.flatten(1), [x], **TOL)
    gradcheck(lambda x: x[1, :, ::2], [x], **TOL)
    gradcheck(lambda x: x[np.array([0, 1, 1]), 2], [x], **TOL)   # repeated fancy index accumulates
    gradcheck(lambda x: F.pad(x, ((0, 0), (1, 2), (0, 1)), value=3.0), [x], **TOL)


def test_concatenate_and_stack():
    a, b = rand((2, 3), 1), rand((2, 5), 2)
    gradcheck(lambda a, b: F.cat([a, b], axis=1) * Tensor(np.arange(16.0).reshape(2, 8)), [a, b], **TOL)
    c, d = rand((2, 3), 3), rand((2, 3), 4)
    gradcheck(lambda c, d: F.stack([c, d], axis=1), [c, d], **TOL)


@settings(max_examples=15)
@given(n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4), batch=st.sampled_from([(), (2,), (2, 1)]),
       seed=st.integers(0, 2**16))
def test_batched_matmul_with_broadcast_batch(n, k, m, batch, seed):
    a = rand(batch + (n, k), seed)
    b = rand((k, m), seed + 1)
    gradcheck(F.matmul, [a, b], **TOL)


def test_linear_matches_its_definition_and_gradchecks():
    x, w, b = rand((3, 4), 1), rand((2, 4), 2), rand((2,), 3)
    np.testing.assert_allclose(F.linear(x, w, b).data, x.data @ w.data.T + b.data)
    gradcheck(F.linear, [x, w, b], **TOL)


def test_matmul_shape_error_names_both_operands():
    with pytest.raises(ValueError, match=r"matmul: expected .*\(2, 3\) @ \(4, 5\)"):
        F.matmul(Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5))))


def test_gradcheck_catches_a_wrong_backward():
    """The checker itself must be able to fail."""
    from minidl import Function, GradcheckError

    class WrongSquare(Function):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, g):
            return (g * self.x,)     # should be 2x

    with pytest.raises(GradcheckError, match="worst element"):
        gradcheck(lambda x: WrongSquare.apply(x), [rand((3,), 0)])


def test_gradcheck_refuses_float32():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda x: x * 2, [Tensor(np.ones(2, np.float32), requires_grad=True)])
