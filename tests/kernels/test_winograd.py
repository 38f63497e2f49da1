"""Winograd's F(2x2, 3x3) convolution (kernels/cpu/winograd.py) against the NumPy references.

Tolerances as for the other fast paths (check_fast_convolution): float32 agrees to rtol 1e-5,
float64 to rtol 1e-12 (values of order 1). On ResNet-sized layers the float32 error is stated
apart: at most 2e-6 of the largest output against a float64 reference (the direct float32 sums
are 2-8e-7 off there, and so is Winograd).
"""
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.functional.conv import conv2d_backward, conv2d_forward
from minidl.kernels import cpu as nb
from minidl.kernels.cpu import conv as nb_conv
from minidl.kernels.cpu import winograd
from .jit_off import largest_error_with_the_jit_off
from .paths import check_through, counted


@st.composite
def three_by_three_inputs(draw):
    """(x, w, b or None, (1, 1), padding, (1, 1), 1): 3x3 windows, paddings 0-2 on each side
    (all that the Winograd path takes), odd and even output sizes down to 1x1."""
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h, w = draw(st.integers(max(1, 3 - 2 * ph), 10)), draw(st.integers(max(1, 3 - 2 * pw), 10))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((f, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if draw(st.booleans()) else None
    return x, wt, b, (1, 1), (ph, pw), (1, 1), 1


@settings(max_examples=80, deadline=None)
@given(inputs=three_by_three_inputs(), shares=st.integers(1, 3), one_image_blocks=st.booleans())
def test_winograd_matches_reference(inputs, shares, one_image_blocks):
    """Every 3x3 stride-1 layer through the Winograd products (the channel threshold lowered to
    1), the batch split over 1-3 worker threads, a block of one image at a time or the default:
    y, dL/dx and dL/dW as the references have them."""
    forward, dx, dw = check_through(
        inputs, shares, tuple(f"winograd_conv2d_{name}" for name in ("forward", "input_gradient", "filter_gradient")),
        ((nb_conv, "WINOGRAD_MIN_CHANNELS", 1), (nb_conv, "DIRECT_MAX_CHANNELS", 0),
         (winograd, "BLOCK_BYTES", 1 if one_image_blocks else winograd.BLOCK_BYTES)))
    assert forward.calls >= 1 and dx.calls >= 2 and dw.calls >= 2


@pytest.mark.parametrize("c, size", [(16, 32), (32, 16), (64, 8)])
def test_float32_error_on_resnet_layers_stays_within_2e_6_of_the_largest_output(c, size):
    """ResNet-20's three 3x3 layer shapes, float32 Winograd against the float64 reference."""
    rng = np.random.default_rng(c)
    x = rng.standard_normal((4, c, size, size))
    w = rng.standard_normal((c, c, 3, 3)) * np.sqrt(2.0 / (9 * c))       # He-initialised
    g = rng.standard_normal((4, c, size, size))
    args = ((1, 1), (1, 1), (1, 1), 1)
    y64 = conv2d_forward.reference(x, w, None, *args)
    dx64, dw64 = conv2d_backward.reference(g, x, w, *args)
    x32, w32, g32 = (a.astype(np.float32) for a in (x, w, g))
    y32 = nb.conv2d_forward(x32, w32, None, *args)
    dx32, dw32 = nb.conv2d_backward(g32, x32, w32, *args)
    for got, want in ((y32, y64), (dx32, dx64), (dw32, dw64)):
        assert got.dtype == np.float32
        assert np.abs(got - want).max() <= 2e-6 * np.abs(want).max()


def test_only_3x3_stride_1_undilated_dense_layers_padded_at_most_2_with_enough_channels_take_it():
    rng = np.random.default_rng(0)
    c = nb_conv.WINOGRAD_MIN_CHANNELS
    forward = counted(nb_conv.winograd_conv2d_forward)
    with mock.patch.object(nb_conv, "winograd_conv2d_forward", forward):
        for channels, k, stride, padding, dilation, groups in ((c - 1, 3, 1, 1, 1, 1), (c, 3, 2, 1, 1, 1),
                                                               (c, 3, 1, 1, 2, 1), (c, 5, 1, 1, 1, 1),
                                                               (c, 3, 1, 1, 1, 2), (c, 3, 1, 3, 1, 1)):
            x = rng.standard_normal((2, channels, 8, 8))
            w = rng.standard_normal((4, channels // groups, k, k))
            nb.conv2d_forward(x, w, None, (stride, stride), (padding, padding), (dilation, dilation), groups)
        assert forward.calls == 0
        nb.conv2d_forward(rng.standard_normal((2, c, 8, 8)), rng.standard_normal((4, c, 3, 3)), None,
                          (1, 1), (1, 1), (1, 1), 1)
        assert forward.calls >= 1


def test_filter_gradient_is_the_adjoint_of_the_filter_transform():
    """<U(w), dU> == <w, U^T(dU)> for every w and dU (float64, rtol 1e-12)."""
    rng = np.random.default_rng(3)
    w, du = rng.standard_normal((5, 3, 3, 3)), rng.standard_normal((16, 5, 3))
    lhs = np.vdot(winograd.transformed_filters(w), du)
    rhs = np.vdot(w, winograd._filter_gradient(du))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)


def test_with_numba_disabled_the_same_kernels_run_as_python():
    """NUMBA_DISABLE_JIT=1 (to step into a kernel): the Winograd path, cblas calls included, runs
    as plain Python and still matches the reference (float64, atol 1e-12)."""
    assert largest_error_with_the_jit_off((2, 3, 5, 4), (2, 3, 3, 3), (1, 1)) < 1e-12
