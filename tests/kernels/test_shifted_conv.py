"""The stride-1 convolution as shifted BLAS products (kernels/cpu/shifted_conv.py) against the
NumPy references, and the direct BLAS binding it stands on (kernels/cpu/blas.py).

Tolerances as for the im2col path: the products add in BLAS's order, so float32 agrees to rtol
1e-5 and float64 to rtol 1e-12 (values of order 1).
"""
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.kernels import cpu as nb
from minidl.kernels.cpu import blas
from minidl.kernels.cpu import conv as nb_conv
from .paths import check_through, counted
from .window_cases import cases

pytestmark = pytest.mark.skipif(bool(blas.available()), reason=blas.available() or "BLAS bound")


@st.composite
def stride_one_inputs(draw):
    """(x, w, b or None, (1, 1), padding, dilation, 1): paddings 0-2 (more than the window
    reaches included), dilations 1-3, 1x1 windows with padding among them."""
    case = draw(cases(max_channels=4))
    f = draw(st.integers(1, 4))
    rng = np.random.default_rng(case.seed + 5)
    w = rng.standard_normal((f, case.shape[1], case.kh, case.kw)).astype(case.dtype)
    b = rng.standard_normal(f).astype(case.dtype) if draw(st.booleans()) else None
    return case.normal(), w, b, (1, 1), case.padding, case.dilation, 1


@settings(max_examples=60, deadline=None)
@given(inputs=stride_one_inputs(), shares=st.integers(1, 3))
def test_shifted_products_match_reference(inputs, shares):
    """Every stride-1 layer through the shifted products (the channel threshold lowered to 1, the
    Winograd path's raised out of reach), the batch split over 1-3 worker threads: y, dL/dx and
    dL/dW as the references have them."""
    if inputs[1].shape[2:] == (1, 1) and inputs[4] == (0, 0):
        return                                      # unpadded 1x1: the pointwise path
    forward, backward = check_through(
        inputs, shares, ("shifted_conv2d_forward", "shifted_conv2d_backward"),
        ((nb_conv, "SHIFTED_MIN_CHANNELS", 1), (nb_conv, "SHIFTED_MAX_TAPS", 16),
         (nb_conv, "WINOGRAD_MIN_CHANNELS", 10**9), (nb_conv, "DIRECT_MAX_CHANNELS", 0)))
    assert forward.calls >= 1 and backward.calls >= 3


def test_layers_below_the_channel_threshold_strided_ones_and_5x5_ones_keep_im2col():
    """2x2 windows here: stride-1 3x3 layers go to Winograd's products (test_winograd.py)."""
    rng = np.random.default_rng(0)
    forward = counted(nb_conv.shifted_conv2d_forward)
    with mock.patch.object(nb_conv, "shifted_conv2d_forward", forward):
        for c, stride, k in ((nb_conv.SHIFTED_MIN_CHANNELS - 1, 1, 2), (nb_conv.SHIFTED_MIN_CHANNELS, 2, 2),
                             (nb_conv.SHIFTED_MIN_CHANNELS, 1, 5)):
            x, w = rng.standard_normal((2, c, 6, 6)), rng.standard_normal((3, c, k, k))
            nb.conv2d_forward(x, w, None, (stride, stride), (1, 1), (1, 1), 1)
        assert forward.calls == 0
        nb.conv2d_forward(rng.standard_normal((2, nb_conv.SHIFTED_MIN_CHANNELS, 6, 6)),
                          rng.standard_normal((3, nb_conv.SHIFTED_MIN_CHANNELS, 2, 2)), None,
                          (1, 1), (1, 1), (1, 1), 1)
        assert forward.calls >= 1             # once per share of the images


@pytest.mark.parametrize("k", [2, 3])
def test_without_a_blas_binding_the_im2col_path_runs(k):
    """Neither the shifted products (2x2 here) nor Winograd's (3x3) without the binding."""
    x, w = np.ones((2, 8, 5, 5)), np.ones((2, 8, k, k))
    shifted, winograd = counted(nb_conv.shifted_conv2d_forward), counted(nb_conv.winograd_conv2d_forward)
    with mock.patch.object(blas, "available", lambda: "no BLAS here"), \
            mock.patch.object(nb_conv, "shifted_conv2d_forward", shifted), \
            mock.patch.object(nb_conv, "winograd_conv2d_forward", winograd):
        y = nb.conv2d_forward(x, w, None, (1, 1), (0, 0), (1, 1), 1)
    assert shifted.calls == winograd.calls == 0
    np.testing.assert_array_equal(y, np.full((2, 2, 6 - k, 6 - k), 8.0 * k * k))


def test_status_says_whether_the_direct_products_run():
    from minidl import kernels
    for path in ("cpu_shifted_conv", "cpu_winograd_conv"):
        assert kernels.status()[path].startswith("ok")
    with mock.patch.object(blas, "available", lambda: "no BLAS here"):
        for path in ("cpu_shifted_conv", "cpu_winograd_conv"):
            assert kernels.status()[path] == "unavailable, im2col instead (no BLAS here)"


def test_mismatched_shapes_are_refused_before_any_product():
    x, w = np.zeros((2, 8, 5, 5)), np.zeros((4, 9, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d_forward: w \(4, 9, 3, 3\) must have x's 8 channels"):
        nb.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)
    w = np.zeros((4, 8, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d_backward: dL/dy must have shape \(2, 4, 5, 5\).*got \(2, 4, 3, 3\)"):
        nb.conv2d_backward(np.zeros((2, 4, 3, 3)), x, w, (1, 1), (1, 1), (1, 1), 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm_on_windows_of_a_buffer_adds_into_c(dtype, trans_a, trans_b):
    """C = op(A) @ op(B) + beta C on sub-matrices given by a start and a row stride."""
    rng = np.random.default_rng(1)
    m, n, k, ld = 3, 4, 5, 9
    a, b, c = (rng.standard_normal(60).astype(dtype) for _ in range(3))
    a_rows, b_rows = (k, m) if trans_a else (m, k), (n, k) if trans_b else (k, n)
    view = lambda arr, at, rows, cols: arr[at:at + rows * ld].reshape(rows, ld)[:, :cols]
    op_a, op_b = view(a, 2, *a_rows), view(b, 1, *b_rows)
    expected = (op_a.T if trans_a else op_a) @ (op_b.T if trans_b else op_b) + 0.5 * view(c, 3, m, n)
    before = c.copy()
    blas.gemm(np.dtype(dtype), trans_a, trans_b, m, n, k, a, 2, ld, b, 1, ld, 0.5, c, 3, ld)
    np.testing.assert_allclose(view(c, 3, m, n), expected, rtol=1e-6)
    outside = np.ones(60, bool)
    outside[3:3 + m * ld].reshape(m, ld)[:, :n] = False
    np.testing.assert_array_equal(c[outside], before[outside])     # nothing else written


def test_gemm_refuses_a_matrix_past_the_end_of_its_array():
    a = np.zeros(12, np.float32)
    with pytest.raises(ValueError, match=r"gemm: B \(3x4 from element 2, row stride 4\) does not lie inside"):
        blas.gemm(np.dtype(np.float32), False, False, 3, 4, 3, a, 0, 3, a, 2, 4, 0.0, a, 0, 4)
