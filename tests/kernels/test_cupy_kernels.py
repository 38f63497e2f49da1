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
from minidl.functional import windows
from .window_cases import cases

cupy = pytest.importorskip("cupy", reason="the CUDA kernels need CuPy")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU (none found)")]

SUM_TOL = {np.float32: dict(rtol=1e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.fixture(scope="module")
def cg():
    from minidl.kernels import cupy_gpu
    return cupy_gpu


def assert_same(actual, expected):
    assert isinstance(actual, cupy.ndarray)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    np.testing.assert_array_equal(cupy.asnumpy(actual), expected)


@settings(max_examples=30, deadline=None)
@given(case=cases(), wide=st.booleans())
def test_im2col_and_col2im_match_reference(cg, case, wide):
    with mock.patch.object(cg, "_INT32_LIMIT", 0 if wide else cg._INT32_LIMIT):
        im2col_and_col2im_match_reference(cg, case)


def im2col_and_col2im_match_reference(cg, case):
    x = case.normal()
    expected = windows.im2col(x, *case.args)
    assert_same(cg.im2col(cupy.asarray(x), *case.args), expected)
    out = cupy.full(expected.shape, cupy.nan, dtype=expected.dtype)     # every entry must be written
    assert cg.im2col(cupy.asarray(x), *case.args, out=out) is out
    assert_same(out, expected)
    cols = case.normal(expected.shape)
    dx = cg.col2im(cupy.asarray(cols), case.shape, *case.args)
    expected = windows.col2im(cols, case.shape, *case.args)
    assert dx.shape == expected.shape and dx.dtype == expected.dtype
    np.testing.assert_allclose(cupy.asnumpy(dx), expected, **SUM_TOL[case.dtype])


@settings(max_examples=30, deadline=None)
@given(case=cases(pool=True), nan=st.booleans(), wide=st.booleans())
def test_max_pool_matches_reference_including_ties(cg, case, nan, wide):
    with mock.patch.object(cg, "_INT32_LIMIT", 0 if wide else cg._INT32_LIMIT):
        max_pool_matches_reference(cg, case, nan)


def max_pool_matches_reference(cg, case, nan):
    x = case.ties()                          # many equal maxima: the first in the window wins
    if nan:
        x[np.random.default_rng(case.seed + 1).random(case.shape) < 0.15] = np.nan
    out, argmax = cg.max_pool2d_forward(cupy.asarray(x), *case.pool_args)
    ref_out, ref_argmax = windows.max_pool2d_forward(x, *case.pool_args)
    assert_same(out, ref_out)
    assert_same(argmax, ref_argmax)
    dout = case.normal(ref_out.shape)
    dx = cg.max_pool2d_backward(cupy.asarray(dout), argmax, case.shape)
    expected = windows.max_pool2d_backward(dout, ref_argmax, case.shape)
    assert dx.shape == expected.shape and dx.dtype == expected.dtype
    np.testing.assert_allclose(cupy.asnumpy(dx), expected, **SUM_TOL[case.dtype])

