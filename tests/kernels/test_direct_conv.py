"""Stride-1 convolutions of one-channel images summed directly (kernels/cpu/direct_conv.py)
against the NumPy references.

Tolerances as for the other fast paths (check_fast_convolution): float32 agrees to rtol 1e-5,
float64 to rtol 1e-12 (values of order 1); the sums only add in another order.
"""
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.kernels import cpu as nb
from minidl.kernels.cpu import conv as nb_conv
from .jit_off import largest_error_with_the_jit_off
from .paths import check_through, counted


@st.composite
def grey_inputs(draw):
    """(x, w, b or None, (1, 1), padding, (1, 1), 1): one input channel, windows 1x1 to 7x7 (5x5
    and the taps of a row taken four at a time, and the rest one by one), paddings 0-3, more
    than the window reaches included."""
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    n, f = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    h = draw(st.integers(max(1, kh - 2 * ph), kh + 6))
    w = draw(st.integers(max(1, kw - 2 * pw), kw + 6))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, 1, h, w)).astype(dtype)
    wt = rng.standard_normal((f, 1, kh, kw)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if draw(st.booleans()) else None
    return x, wt, b, (1, 1), (ph, pw), (1, 1), 1


@settings(max_examples=80, deadline=None)
@given(inputs=grey_inputs(), shares=st.integers(1, 3))
def test_direct_sums_match_reference(inputs, shares):
    """y, dL/dx and dL/dW as the references have them, the batch split over 1-3 worker threads."""
    if inputs[1].shape[2:] == (1, 1) and inputs[4] == (0, 0):
        return                                      # unpadded 1x1: the pointwise path
    forward, backward = check_through(inputs, shares, ("direct_conv2d_forward", "direct_conv2d_backward"))
    assert forward.calls >= 1 and backward.calls >= 3


def test_only_undilated_stride_1_dense_layers_on_one_channel_take_it():
    rng = np.random.default_rng(0)
    forward = counted(nb_conv.direct_conv2d_forward)
    with mock.patch.object(nb_conv, "direct_conv2d_forward", forward):
        for channels, stride, dilation in ((2, 1, 1), (1, 2, 1), (1, 1, 2)):
            x, w = rng.standard_normal((2, channels, 9, 9)), rng.standard_normal((3, channels, 3, 3))
            y = nb.conv2d_forward(x, w, None, (stride, stride), (1, 1), (dilation, dilation), 1)
            assert y.shape[1] == 3
        assert forward.calls == 0
        nb.conv2d_forward(rng.standard_normal((2, 1, 9, 9)), rng.standard_normal((3, 1, 5, 5)), None,
                          (1, 1), (2, 2), (1, 1), 1)
        assert forward.calls >= 1


def test_with_numba_disabled_the_direct_sums_run_as_python():
    """NUMBA_DISABLE_JIT=1 (to step into the loops): the same results (float64, atol 1e-12)."""
    assert largest_error_with_the_jit_off((2, 1, 6, 5), (3, 1, 5, 5), (2, 2)) < 1e-12
