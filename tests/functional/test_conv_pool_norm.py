"""Convolution, pooling and batch norm: values against direct definitions, gradients against
float64 central differences, with hypothesis drawing shapes, strides, paddings, dilations, groups.

Gradcheck tolerance: atol 1e-6, rtol 1e-4 (float64, eps 1e-6). Values: 1e-10 in float64.
The kernels are forced to the NumPy reference here; tests/kernels checks the fast paths equal it.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minidl
from minidl import Tensor, gradcheck, kernels
from minidl import functional as F
from minidl.functional import by_definition
from minidl.functional.conv import col2im, im2col
from minidl.geometry import output_size

TOL = dict(atol=1e-6, rtol=1e-4)


@pytest.fixture(autouse=True)
def reference_kernels():
    with kernels.use_reference():
        yield


conv_cases = st.fixed_dictionaries({
    "n": st.integers(1, 3), "groups": st.sampled_from([1, 2]), "cg": st.integers(1, 2),
    "fg": st.integers(1, 2), "h": st.integers(3, 7), "w": st.integers(3, 7),
    "kh": st.integers(1, 3), "kw": st.integers(1, 3), "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
    "padding": st.tuples(st.integers(0, 2), st.integers(0, 2)),
    "dilation": st.tuples(st.integers(1, 2), st.integers(1, 2)), "bias": st.booleans(),
    "seed": st.integers(0, 2**16),
})


def make_conv(case):
    rng = np.random.default_rng(case["seed"])
    c, f = case["cg"] * case["groups"], case["fg"] * case["groups"]
    x = Tensor(rng.normal(size=(case["n"], c, case["h"], case["w"])), requires_grad=True)
    w = Tensor(rng.normal(size=(f, case["cg"], case["kh"], case["kw"])), requires_grad=True)
    b = Tensor(rng.normal(size=f), requires_grad=True) if case["bias"] else None
    return x, w, b


def valid(case):
    return all(output_size(case[s], case[k], case["stride"][i], case["padding"][i], case["dilation"][i]) >= 1
               for i, (s, k) in enumerate([("h", "kh"), ("w", "kw")]))


@settings(max_examples=40)
@given(case=conv_cases)
def test_conv2d_equals_its_definition(case):
    assume(valid(case))
    x, w, b = make_conv(case)
    args = (case["stride"], case["padding"], case["dilation"], case["groups"])
    y = F.conv2d(x, w, b, *args)
    expected = by_definition.conv2d(x.data, w.data, None if b is None else b.data, *args)
    np.testing.assert_allclose(y.data, expected, atol=1e-10)
    with minidl.no_grad():                  # no columns kept: the same values
        np.testing.assert_allclose(F.conv2d(x, w, b, *args).data, expected, atol=1e-10)


@settings(max_examples=25)
@given(case=conv_cases)
def test_conv2d_gradients(case):
    assume(valid(case))
    x, w, b = make_conv(case)
    args = (case["stride"], case["padding"], case["dilation"], case["groups"])
    inputs = [x, w] if b is None else [x, w, b]
    gradcheck(lambda *t: F.conv2d(*t, *args) if len(t) == 3 else F.conv2d(t[0], t[1], None, *args), inputs, **TOL)


@settings(max_examples=30)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(2, 7), w=st.integers(2, 7),
       kh=st.integers(1, 3), kw=st.integers(1, 3), s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       p=st.tuples(st.integers(0, 2), st.integers(0, 2)), d=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       seed=st.integers(0, 2**16))
def test_col2im_is_the_adjoint_of_im2col(n, c, h, w, kh, kw, s, p, d, seed):
    """<im2col(x), y> == <x, col2im(y)>: col2im is exactly im2col's backward pass."""
    assume(output_size(h, kh, s[0], p[0], d[0]) >= 1 and output_size(w, kw, s[1], p[1], d[1]) >= 1)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c, h, w))
    cols = im2col(x, kh, kw, s, p, d)
    y = rng.normal(size=cols.shape)
    np.testing.assert_allclose(np.vdot(cols, y), np.vdot(x, col2im(y, x.shape, kh, kw, s, p, d)), rtol=1e-10)


def distinct_values(shape, seed):
    """A random permutation of well-separated values: no ties inside any pooling window."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(np.prod(shape), dtype=float)).reshape(shape) * 0.1


pool_cases = st.fixed_dictionaries({
    "n": st.integers(1, 2), "c": st.integers(1, 2), "h": st.integers(2, 7), "w": st.integers(2, 7),
    "k": st.tuples(st.integers(1, 3), st.integers(1, 3)), "s": st.tuples(st.integers(1, 3), st.integers(1, 3)),
    "p": st.tuples(st.integers(0, 1), st.integers(0, 1)), "seed": st.integers(0, 2**16),
})


def pool_valid(c):
    return all(c["p"][i] <= c["k"][i] // 2 and c[d] + 2 * c["p"][i] >= c["k"][i] for i, d in enumerate("hw"))


@settings(max_examples=30)
@given(case=pool_cases)
def test_max_pool2d_values_and_gradients_on_inputs_without_ties(case):
    assume(pool_valid(case))
    x = Tensor(distinct_values((case["n"], case["c"], case["h"], case["w"]), case["seed"]), requires_grad=True)
    y = F.max_pool2d(x, case["k"], case["s"], case["p"])
    np.testing.assert_array_equal(y.data, by_definition.max_pool2d(x.data, case["k"], case["s"], case["p"]))
    gradcheck(lambda x: F.max_pool2d(x, case["k"], case["s"], case["p"]), [x], **TOL)


@settings(max_examples=25)
@given(case=pool_cases)
def test_avg_pool2d_gradients(case):
    assume(pool_valid(case))
    x = Tensor(np.random.default_rng(case["seed"]).normal(size=(case["n"], case["c"], case["h"], case["w"])),
               requires_grad=True)
    gradcheck(lambda x: F.avg_pool2d(x, case["k"], case["s"], case["p"]), [x], **TOL)


def test_max_pool_routes_the_gradient_to_the_argmax_only():
    x = Tensor(np.array([[[[1.0, 5.0], [2.0, 3.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [[[[0, 1], [0, 0]]]])


def test_avg_and_adaptive_pool_values():
    x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    np.testing.assert_allclose(F.avg_pool2d(x, 2).data[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, 1).data.ravel(), [7.5])
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, 2).data, F.avg_pool2d(x, 2).data)
    gradcheck(lambda x: F.adaptive_avg_pool2d(x, 1), [x], **TOL)


@settings(max_examples=30)
@given(h=st.integers(1, 9), w=st.integers(1, 9), oh=st.integers(1, 9), ow=st.integers(1, 9),
       seed=st.integers(0, 2**16))
def test_adaptive_avg_pool_any_sizes(h, w, oh, ow, seed):
    """PyTorch's windows: output (i, j) averages rows floor(i H/oh)..ceil((i+1) H/oh)-1 and the
    same for columns (overlapping when the sizes do not divide). Values 1e-12, gradcheck TOL."""
    x = Tensor(np.random.default_rng(seed).normal(size=(2, 2, h, w)), requires_grad=True)
    expected = np.empty((2, 2, oh, ow))
    for i in range(oh):
        for j in range(ow):
            rows = slice(i * h // oh, -(-(i + 1) * h // oh))
            cols = slice(j * w // ow, -(-(j + 1) * w // ow))
            expected[:, :, i, j] = x.data[:, :, rows, cols].mean(axis=(2, 3))
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, (oh, ow)).data, expected, atol=1e-12)
    gradcheck(lambda x: F.adaptive_avg_pool2d(x, (oh, ow)), [x], **TOL)


def test_pool_and_conv_argument_errors():
    x = Tensor(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="at most half the kernel"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match=r"conv2d: expected input \(N, C, H, W\)"):
        F.conv2d(Tensor(np.zeros((4, 4))), Tensor(np.zeros((1, 1, 3, 3))))
    with pytest.raises(ValueError, match="channels"):
        F.conv2d(x, Tensor(np.zeros((2, 3, 3, 3))))
    with pytest.raises(ValueError, match="dilated kernel"):
        F.conv2d(x, Tensor(np.zeros((1, 1, 5, 5))))


@settings(max_examples=30)
@given(shape=st.sampled_from([(4, 3), (3, 2, 3, 2), (2, 3, 1, 4)]), seed=st.integers(0, 2**16),
       training=st.booleans(), relu=st.booleans())
def test_batch_norm_gradients_in_training_and_evaluation(shape, seed, training, relu):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = Tensor(rng.normal(size=shape) * 3 + 1, requires_grad=True)
    gamma = Tensor(rng.uniform(0.5, 2, c), requires_grad=True)
    beta = Tensor(rng.normal(size=c), requires_grad=True)
    rm, rv = rng.normal(size=c), rng.uniform(0.5, 2, c)

    def bn(x, g, b):
        return F.batch_norm(x, rm.copy(), rv.copy(), g, b, training, relu=relu)
    assume(not relu or np.abs(bn(x, gamma, beta).data).min() > 1e-3)     # off the ReLU's kink
    gradcheck(bn, [x, gamma, beta], **TOL)


@settings(max_examples=20, deadline=None)
@given(shape=st.sampled_from([(6, 3), (3, 2, 3, 2), (2, 3, 4, 4)]), seed=st.integers(0, 2**16),
       training=st.booleans(), fast=st.booleans())
def test_batch_norm_with_relu_is_relu_of_batch_norm(shape, seed, training, fast):
    """Values, every gradient and the running statistics, on the reference and the fast path
    (float64: to 1e-12)."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    x, gamma, beta, dy = rng.normal(size=shape), rng.uniform(0.5, 2, c), rng.normal(size=c), rng.normal(size=shape)

    def run(fused):
        ts = [Tensor(a, requires_grad=True) for a in (x, gamma, beta)]
        rm, rv = np.zeros(c), np.ones(c)
        y = (F.batch_norm(*ts[:1], rm, rv, *ts[1:], training, relu=True) if fused else
             F.relu(F.batch_norm(*ts[:1], rm, rv, *ts[1:], training)))
        (y * Tensor(dy)).sum().backward()
        return [y.data, rm, rv] + [t.grad for t in ts]

    with kernels.use_reference(not fast):
        for a, b in zip(run(True), run(False)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("trainable", [(True, False, False), (True, False, True), (False, True, False)])
def test_evaluation_batch_norm_gradients_with_some_inputs_frozen(trainable):
    """Without dL/dgamma the forward keeps no xhat; each wanted gradient is still right."""
    rng = np.random.default_rng(3)
    x, gamma, beta = (Tensor(a, requires_grad=r) for a, r in
                      zip((rng.normal(size=(3, 2, 4, 4)), rng.uniform(0.5, 2, 2), rng.normal(size=2)), trainable))
    rm, rv = rng.normal(size=2), rng.uniform(0.5, 2, 2)
    wanted = [t for t in (x, gamma, beta) if t.requires_grad]

    def bn(*given):                 # the wanted inputs as gradcheck hands them, the rest fixed
        it = iter(given)
        a, g, b = (next(it) if t.requires_grad else t for t in (x, gamma, beta))
        return F.batch_norm(a, rm, rv, g, b, training=False)
    gradcheck(bn, wanted, **TOL)
    y = F.batch_norm(x, rm, rv, gamma, beta, training=False)
    assert (y._ctx.xhat is not None) == gamma.requires_grad


def test_batch_norm_follows_the_lectures_algorithm_and_updates_running_stats():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3, 4, 4)) * 2 + 5
    gamma, beta = rng.uniform(0.5, 2, 3), rng.normal(size=3)
    rm, rv = np.zeros(3), np.ones(3)
    y = F.batch_norm(Tensor(x), rm, rv, Tensor(gamma), Tensor(beta), training=True, momentum=0.1).data
    mu = x.mean(axis=(0, 2, 3))                          # mini-batch mean
    var = x.var(axis=(0, 2, 3))                          # mini-batch variance (1/m)
    xhat = (x - mu[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y, gamma[None, :, None, None] * xhat + beta[None, :, None, None], atol=1e-10)
    m = 8 * 4 * 4
    np.testing.assert_allclose(rm, 0.1 * mu)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * var * m / (m - 1))
    y_eval = F.batch_norm(Tensor(x), rm, rv, Tensor(gamma), Tensor(beta), training=False).data
    expected = (x - rm[None, :, None, None]) / np.sqrt(rv[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y_eval, gamma[None, :, None, None] * expected + beta[None, :, None, None])


def test_batch_norm_shape_errors():
    with pytest.raises(ValueError, match=r"running_mean of shape \(3,\)"):
        F.batch_norm(Tensor(np.zeros((2, 3))), np.zeros(4), np.ones(4), training=True)
    with pytest.raises(ValueError, match="more than one value per channel"):
        F.batch_norm(Tensor(np.zeros((1, 3))), np.zeros(3), np.ones(3), training=True)


def test_fast_kernels_give_the_same_gradients_as_the_reference():
    """Gradients through whatever fast path is registered equal the reference's (float64)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 9, 9))
    w = rng.normal(size=(4, 3, 3, 3))

    def grads():
        xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        y = F.max_pool2d(F.relu(F.conv2d(xt, wt, None, 1, 1)), 2)
        (y * y).sum().backward()
        return y.data, xt.grad, wt.grad

    ref = grads()
    with kernels.use_reference(False):
        fast = grads()
    for a, b in zip(ref, fast):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    assert minidl.Tensor is Tensor
