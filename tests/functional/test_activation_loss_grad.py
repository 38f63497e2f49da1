"""Activations, dropout and losses: gradients (central differences) and known values.

Tolerance for gradchecks: atol 1e-6, rtol 1e-4 in float64.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import Tensor, gradcheck
from minidl import functional as F

TOL = dict(atol=1e-6, rtol=1e-4)


def rand(shape, seed, scale=2.0):
    return Tensor(np.random.default_rng(seed).uniform(-scale, scale, shape), requires_grad=True)


@settings(max_examples=15)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 4), k=st.integers(2, 5),
       act=st.sampled_from(["relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax"]))
def test_activations(seed, n, k, act):
    x = rand((n, k), seed)
    x.data[np.abs(x.data) < 1e-3] = 0.5             # ReLU's kink at 0
    fn = {"relu": F.relu, "leaky_relu": lambda x: F.leaky_relu(x, 0.1), "sigmoid": F.sigmoid,
          "tanh": F.tanh, "softmax": F.softmax, "log_softmax": F.log_softmax}[act]
    gradcheck(fn, [x], **TOL)


@settings(max_examples=15)
@given(seed=st.integers(0, 2**16), shape=st.sampled_from([(3, 4), (2, 3, 2, 2)]),
       broadcast=st.booleans())
def test_add_relu_is_relu_of_the_sum(seed, shape, broadcast):
    """Values equal relu(a + b) exactly; gradients by central differences, b broadcast or not."""
    a = rand(shape, seed)
    b = rand(shape[-1:] if broadcast else shape, seed + 1)
    s = a.data + b.data
    a.data[np.abs(s) < 1e-3] += 0.5                 # off the kink at a + b = 0
    np.testing.assert_array_equal(F.add_relu(a, b).data, F.relu(a + b).data)
    gradcheck(F.add_relu, [a, b], **TOL)


def test_activation_values():
    x = np.array([-1000.0, -1.0, 0.0, 2.0, 1000.0])
    np.testing.assert_allclose(F.sigmoid(Tensor(x)).data, [0, 1 / (1 + np.e), 0.5, 1 / (1 + np.exp(-2)), 1], atol=1e-300)
    np.testing.assert_allclose(F.relu(Tensor(x)).data, [0, 0, 0, 2, 1000])
    np.testing.assert_allclose(F.leaky_relu(Tensor(x), 0.1).data, [-100, -0.1, 0, 2, 1000])
    s = F.softmax(Tensor(np.array([[1000.0, 1000.0, 0.0]]))).data    # no overflow
    np.testing.assert_allclose(s, [[0.5, 0.5, 0.0]], atol=1e-12)
    ls = F.log_softmax(Tensor(np.array([[1.0, 2.0, 3.0]]))).data
    np.testing.assert_allclose(np.exp(ls).sum(), 1.0)


@settings(max_examples=15)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 5), k=st.integers(2, 5))
def test_cross_entropy_value_and_gradient(seed, n, k):
    z = rand((n, k), seed)
    y = np.random.default_rng(seed).integers(0, k, n)
    logp = z.data - np.log(np.exp(z.data).sum(1, keepdims=True))
    np.testing.assert_allclose(F.cross_entropy(z, y).item(), -logp[np.arange(n), y].mean())
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(z), y).item(), -logp[np.arange(n), y].mean())
    gradcheck(lambda z: F.cross_entropy(z, y), [z], **TOL)
    gradcheck(lambda z: F.nll_loss(F.log_softmax(z), y), [z], **TOL)


def test_cross_entropy_per_pixel_equals_flattened_samples():
    z = rand((2, 3, 4, 5), 0)
    y = np.random.default_rng(0).integers(0, 3, (2, 4, 5))
    flat = F.cross_entropy(Tensor(z.data.transpose(0, 2, 3, 1).reshape(-1, 3)), y.reshape(-1))
    np.testing.assert_allclose(F.cross_entropy(z, y).item(), flat.item())
    gradcheck(lambda z: F.cross_entropy(z, y), [z], **TOL)


def test_cross_entropy_is_stable_for_huge_logits():
    z = Tensor(np.array([[1e4, 0.0], [0.0, 1e4]]))
    assert F.cross_entropy(z, np.array([0, 1])).item() == pytest.approx(0.0, abs=1e-12)
    assert F.cross_entropy(z, np.array([1, 0])).item() == pytest.approx(1e4)


def test_loss_input_errors_are_reported():
    z = Tensor(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="integer class indices"):
        F.cross_entropy(z, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        F.cross_entropy(z, np.array([0, 3]))
    with pytest.raises(ValueError, match="target of shape"):
        F.cross_entropy(z, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="NaN"):
        F.cross_entropy(Tensor(np.array([[np.nan, 0.0]])), np.array([0]))
    with pytest.raises(ValueError, match="NaN"):
        F.mse_loss(Tensor(np.array([np.inf])), np.array([0.0]))
    with pytest.raises(TypeError, match="floating-point"):
        F.cross_entropy(Tensor(np.zeros((1, 2), np.int64)), np.array([0]))
    with pytest.raises(ValueError, match="target of shape"):
        F.mse_loss(Tensor(np.zeros(3)), np.zeros(4))


def test_mse_loss_reductions_including_the_lectures_half_sum():
    yhat, y = rand((4, 2), 1), np.random.default_rng(2).normal(size=(4, 2))
    d = yhat.data - y
    np.testing.assert_allclose(F.mse_loss(yhat, y).item(), (d ** 2).mean())
    np.testing.assert_allclose(F.mse_loss(yhat, y, "sum").item(), (d ** 2).sum())
    np.testing.assert_allclose(F.mse_loss(yhat, y, "half_sum").item(), 0.5 * (d ** 2).sum())
    gradcheck(lambda a: F.mse_loss(a, y, "half_sum"), [yhat], **TOL)
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(yhat, y, "median")


def test_binary_cross_entropy_with_logits():
    z = rand((3, 4), 5, scale=30.0)                 # large scores must not overflow
    t = (np.random.default_rng(6).random((3, 4)) > 0.5).astype(float)
    expected = (np.logaddexp(0, z.data) - t * z.data).mean()   # -t log p - (1-t) log(1-p), stably
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(z, t).item(), expected, rtol=1e-6)
    gradcheck(lambda z: F.binary_cross_entropy_with_logits(z, t), [z], **TOL)


def test_dropout_with_a_fixed_seed():
    x = rand((50, 40), 0)
    gen = lambda: np.random.default_rng(123)    # noqa: E731 (the same mask on every call)
    gradcheck(lambda x: F.dropout(x, 0.3, True, generator=gen()), [x], **TOL)
    y = F.dropout(x, 0.3, True, generator=gen()).data
    kept = y != 0
    assert 0.6 < kept.mean() < 0.8                         # about 1 - p survive
    np.testing.assert_allclose(y[kept], x.data[kept] / 0.7)  # inverted: survivors scaled up
    assert F.dropout(x, 0.3, training=False) is x           # identity in evaluation
    with pytest.raises(ValueError, match="p must be"):
        F.dropout(x, 1.0)


def test_dropout_is_reproducible_under_manual_seed():
    x = Tensor(np.ones((10, 10)))
    minidl.manual_seed(7)
    a = F.dropout(x, 0.5).data
    minidl.manual_seed(7)
    b = F.dropout(x, 0.5).data
    np.testing.assert_array_equal(a, b)
