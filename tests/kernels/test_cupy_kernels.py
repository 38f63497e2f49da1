"""The CuPy kernels against minidl's NumPy references (results copied back with cupy.asnumpy).

Tolerances: im2col and max-pool forward must match exactly. col2im gathers in the reference's
order (rtol 1e-6 float32 / 1e-12 float64 allowed all the same); max-pool backward adds with
atomics in any order, so overlapping windows agree to rtol 1e-6 / 1e-12.
Each case runs with 32-bit flat indices (what these sizes get) and, forced, with 64-bit ones.
"""
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.backend import cuda_available
from minidl.functional.conv import col2im, conv2d_backward, conv2d_forward, im2col
from minidl.functional.pool import max_pool2d_backward, max_pool2d_forward
from minidl.kernels.cuda import common as cuda_common
from .window_cases import cases, pointwise_inputs

cupy = pytest.importorskip("cupy", reason="the CUDA kernels need CuPy")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU (none found)")]

SUM_TOL = {np.float32: dict(rtol=1e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.fixture(scope="module")
def cg():
    from minidl.kernels import cuda
    return cuda


def assert_same(actual, expected):
    assert isinstance(actual, cupy.ndarray)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    np.testing.assert_array_equal(cupy.asnumpy(actual), expected)


@settings(max_examples=30, deadline=None)
@given(case=cases(), wide=st.booleans())
def test_im2col_and_col2im_match_reference(cg, case, wide):
    with mock.patch.object(cuda_common, "INT32_LIMIT", 0 if wide else cuda_common.INT32_LIMIT):
        im2col_and_col2im_match_reference(cg, case)


def im2col_and_col2im_match_reference(cg, case):
    x = case.normal()
    expected = im2col.reference(x, *case.args)
    assert_same(cg.im2col(cupy.asarray(x), *case.args), expected)
    out = cupy.full(expected.shape, cupy.nan, dtype=expected.dtype)     # every entry must be written
    assert cg.im2col(cupy.asarray(x), *case.args, out=out) is out
    assert_same(out, expected)
    cols = case.normal(expected.shape)
    dx = cg.col2im(cupy.asarray(cols), case.shape, *case.args)
    expected = col2im.reference(cols, case.shape, *case.args)
    assert dx.shape == expected.shape and dx.dtype == expected.dtype
    np.testing.assert_allclose(cupy.asnumpy(dx), expected, **SUM_TOL[case.dtype])


@settings(max_examples=30, deadline=None)
@given(case=cases(pool=True), nan=st.booleans(), wide=st.booleans())
def test_max_pool_matches_reference_including_ties(cg, case, nan, wide):
    with mock.patch.object(cuda_common, "INT32_LIMIT", 0 if wide else cuda_common.INT32_LIMIT):
        max_pool_matches_reference(cg, case, nan)


def max_pool_matches_reference(cg, case, nan):
    x = case.ties()                          # many equal maxima: the first in the window wins
    if nan:
        x[np.random.default_rng(case.seed + 1).random(case.shape) < 0.15] = np.nan
    out, argmax = cg.max_pool2d_forward(cupy.asarray(x), *case.pool_args)
    ref_out, ref_argmax = max_pool2d_forward.reference(x, *case.pool_args)
    assert_same(out, ref_out)
    assert_same(argmax, ref_argmax)
    dout = case.normal(ref_out.shape)
    dx = cg.max_pool2d_backward(cupy.asarray(dout), argmax, case.shape)
    expected = max_pool2d_backward.reference(dout, ref_argmax, case.shape)
    assert dx.shape == expected.shape and dx.dtype == expected.dtype
    np.testing.assert_allclose(cupy.asnumpy(dx), expected, **SUM_TOL[case.dtype])



@settings(max_examples=20, deadline=None)
@given(case=cases())
def test_conv2d_forward_and_backward_match_reference(cg, case):
    """The blocked convolution on cuBLAS against the NumPy reference (rtol 1e-5 float32,
    1e-12 float64: cuBLAS may sum in another order)."""
    x = case.normal()
    w = np.random.default_rng(case.seed + 1).standard_normal((3, case.shape[1], case.kh, case.kw)).astype(case.dtype)
    b = np.arange(3, dtype=case.dtype)
    args = (case.stride, case.padding, case.dilation, 1)
    y_ref = conv2d_forward.reference(x, w, b, *args)
    g = np.random.default_rng(case.seed + 2).standard_normal(y_ref.shape).astype(case.dtype)
    dx_ref, dw_ref = conv2d_backward.reference(g, x, w, *args)
    y = cg.conv2d_forward(cupy.asarray(x), cupy.asarray(w), cupy.asarray(b), *args)
    dx, dw = cg.conv2d_backward(cupy.asarray(g), cupy.asarray(x), cupy.asarray(w), *args)
    tol = dict(rtol=1e-5, atol=1e-5) if case.dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for actual, expected in ((y, y_ref), (dx, dx_ref), (dw, dw_ref)):
        assert isinstance(actual, cupy.ndarray)
        np.testing.assert_allclose(cupy.asnumpy(actual), expected, **tol)


@settings(max_examples=20, deadline=None)
@given(inputs=pointwise_inputs())
def test_pointwise_convolution_matches_reference(cg, inputs):
    """1x1 layers take cuBLAS's batched product without columns (rtol 1e-5 float32, 1e-12 float64)."""
    x, w, b, *args = inputs
    y_ref = conv2d_forward.reference(x, w, b, *args)
    g = np.random.default_rng(1).standard_normal(y_ref.shape).astype(x.dtype)
    dx_ref, dw_ref = conv2d_backward.reference(g, x, w, *args)
    on_gpu = [None if a is None else cupy.asarray(a) for a in (g, x, w, b)]
    y = cg.conv2d_forward(on_gpu[1], on_gpu[2], on_gpu[3], *args)
    dx, dw = cg.conv2d_backward(*on_gpu[:3], *args)
    tol = dict(rtol=1e-5, atol=1e-5) if x.dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for actual, expected in ((y, y_ref), (dx, dx_ref), (dw, dw_ref)):
        assert isinstance(actual, cupy.ndarray) and actual.dtype == expected.dtype
        np.testing.assert_allclose(cupy.asnumpy(actual), expected, **tol)
