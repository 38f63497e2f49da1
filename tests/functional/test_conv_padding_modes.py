"""conv2d's padding='same' and 'valid' (PyTorch's string paddings), on the functional and the layer.

'same' (stride 1) keeps H and W: the total padding dilation (k - 1) is split evenly, an odd one
with the extra row at the bottom and the extra column on the right (PyTorch's rule). Checked by
the loop convolution of functional/by_definition.py over the explicitly padded input, and by
float64 central differences (gradcheck, atol 1e-6, rtol 1e-4).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl import Tensor, gradcheck, nn
from minidl import functional as F
from minidl.functional import by_definition

TOL = dict(atol=1e-6, rtol=1e-4)


@settings(max_examples=30, deadline=None)
@given(kh=st.integers(1, 4), kw=st.integers(1, 4), dh=st.integers(1, 3), dw=st.integers(1, 3),
       h=st.integers(1, 6), w=st.integers(1, 6), seed=st.integers(0, 2**16), groups=st.sampled_from([1, 2]))
def test_same_padding_keeps_the_size_and_pads_the_extra_at_the_bottom_right(kh, kw, dh, dw, h, w, seed, groups):
    rng = np.random.default_rng(seed)
    x = Tensor(rng.normal(size=(2, 2, h, w)), requires_grad=True)
    wt = Tensor(rng.normal(size=(4, 2 // groups, kh, kw)), requires_grad=True)
    y = F.conv2d(x, wt, padding="same", dilation=(dh, dw), groups=groups)
    assert y.shape == (2, 4, h, w)
    th, tw = dh * (kh - 1), dw * (kw - 1)
    padded = np.pad(x.data, ((0, 0), (0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2)))
    expected = by_definition.conv2d(padded, wt.data, dilation=(dh, dw), groups=groups)
    np.testing.assert_allclose(y.data, expected, rtol=1e-10, atol=1e-12)
    gradcheck(lambda x, wt: F.conv2d(x, wt, padding="same", dilation=(dh, dw), groups=groups), [x, wt], **TOL)


def test_valid_is_no_padding():
    rng = np.random.default_rng(0)
    x, wt = Tensor(rng.normal(size=(1, 3, 6, 5))), Tensor(rng.normal(size=(2, 3, 3, 2)))
    np.testing.assert_array_equal(F.conv2d(x, wt, padding="valid").data, F.conv2d(x, wt).data)


def test_same_by_hand_for_an_even_kernel():
    """A 2x2 kernel of ones on a 2x2 input, 'same': the padding goes after, so y[i, j] sums
    x[i:i+2, j:j+2] and the last row and column see the zero padding."""
    x = Tensor(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    y = F.conv2d(x, Tensor(np.ones((1, 1, 2, 2))), padding="same")
    assert y.data[0, 0].tolist() == [[10.0, 6.0], [7.0, 4.0]]


def test_string_padding_errors_and_the_layer():
    x, wt = Tensor(np.zeros((1, 1, 4, 4))), Tensor(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        F.conv2d(x, wt, stride=2, padding="same")
    with pytest.raises(ValueError, match="'same' or 'valid', got 'full'"):
        F.conv2d(x, wt, padding="full")
    with pytest.raises(ValueError, match="Conv2d: padding='same' needs stride 1"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    layer = nn.Conv2d(3, 5, 4, padding="same", dilation=2)
    assert layer(Tensor(np.zeros((2, 3, 7, 9), np.float32))).shape == (2, 5, 7, 9)
    assert "padding='same'" in repr(layer)
