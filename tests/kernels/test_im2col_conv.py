"""The im2col convolution as Numba loops with BLAS's products (kernels/cpu/im2col_conv.py)
against the NumPy references: the layers no other fast path takes (strided, dilated, large
windows on few channels).

Tolerances as for the other fast paths (check_fast_convolution): float32 agrees to rtol 1e-5,
float64 to rtol 1e-12 (values of order 1); the products only add in another order.
"""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.kernels.cpu import conv as nb_conv
from minidl.kernels.cpu import im2col_conv
from .paths import check_through
from .window_cases import cases


@st.composite
def dense_inputs(draw):
    """(x, w, b or None, stride, padding, dilation, 1): any window case, 1-3 filters."""
    case = draw(cases())
    rng = np.random.default_rng(case.seed + 5)
    f = draw(st.integers(1, 3))
    w = rng.standard_normal((f, case.shape[1], case.kh, case.kw)).astype(case.dtype)
    b = rng.standard_normal(f).astype(case.dtype) if draw(st.booleans()) else None
    return case.normal(), w, b, case.stride, case.padding, case.dilation, 1


@settings(max_examples=60, deadline=None)
@given(inputs=dense_inputs(), shares=st.integers(1, 3), one_image_blocks=st.booleans())
def test_im2col_products_match_reference(inputs, shares, one_image_blocks):
    """Every dense layer through the columns (no Winograd, shifted or direct path), 1-3 shares,
    a block of one image at a time (products straight into y) or the default: y, dL/dx and
    dL/dW as the references have them."""
    if inputs[1].shape[2:] == (1, 1) and inputs[4] == (0, 0):
        return                                      # unpadded 1x1: the pointwise path
    forward, backward = check_through(
        inputs, shares, ("im2col_conv2d_forward", "im2col_conv2d_backward"),
        ((nb_conv, "_direct_path", lambda *args: None),
         (im2col_conv, "BLOCK_BYTES", 1 if one_image_blocks else im2col_conv.BLOCK_BYTES)))
    assert forward.calls >= 1 and backward.calls >= 3
