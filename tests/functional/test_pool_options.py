"""Pooling's PyTorch options: max-pool dilation, ceil_mode, avg-pool count_include_pad and
divisor_override, and the layers that carry them.

The yardstick is a loop over PyTorch's documented definition: output size
    OH = (H + 2P - D(k - 1) - 1) / S + 1, rounded down (or up with ceil_mode, less one if the last
    window would start in the right padding);
window (i, j) covers rows i S - P + D r (r < k); a max ignores positions outside the input; an
average sums the real values and divides by the window clipped to the padded input (H + P on the
far side) with count_include_pad, or by the real positions it covers without.
Gradients: float64 central differences (gradcheck, atol 1e-6, rtol 1e-4), inputs spread apart so
that no two values of a window tie.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minidl import Tensor, gradcheck, nn
from minidl import functional as F

TOL = dict(atol=1e-6, rtol=1e-4)


def out_size(n, k, s, p, d, ceil_mode):
    span = n + 2 * p - d * (k - 1) - 1
    o = (-(-span // s) if ceil_mode else span // s) + 1
    return o - 1 if ceil_mode and (o - 1) * s >= n + p else o


def pool_by_definition(x, k, s, p, d=1, ceil_mode=False, kind="max", count_include_pad=True,
                       divisor_override=None):
    n, c, h, w = x.shape
    oh, ow = out_size(h, k, s, p, d, ceil_mode), out_size(w, k, s, p, d, ceil_mode)
    y = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            rows = [i * s - p + d * r for r in range(k)]
            cols = [j * s - p + d * q for q in range(k)]
            rin = [r for r in rows if 0 <= r < h]
            cin = [q for q in cols if 0 <= q < w]
            window = x[:, :, rin][:, :, :, cin]
            if kind == "max":
                y[:, :, i, j] = window.max(axis=(2, 3))
                continue
            if divisor_override:
                divisor = divisor_override
            elif count_include_pad:    # the window clipped to the padded input
                divisor = (min(rows[0] + k, h + p) - rows[0]) * (min(cols[0] + k, w + p) - cols[0])
            else:
                divisor = len(rin) * len(cin)
            y[:, :, i, j] = window.sum(axis=(2, 3)) / divisor
    return y


def spread(shape, seed):
    """Distinct values a little apart, shuffled: no ties inside a window."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(np.prod(shape)) * 0.1).reshape(shape) + rng.uniform(0, 0.01, shape)


geometry = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(0, 1), st.integers(1, 3),
                     st.integers(3, 8), st.integers(3, 8), st.booleans())


@settings(max_examples=40, deadline=None)
@given(g=geometry, seed=st.integers(0, 2**16))
def test_max_pool_with_dilation_and_ceil_mode_equals_the_definition(g, seed):
    k, s, p, d, h, w, ceil_mode = g
    assume(p <= k // 2 and min(h, w) + 2 * p >= d * (k - 1) + 1)
    x = Tensor(spread((2, 2, h, w), seed), requires_grad=True)
    y = F.max_pool2d(x, k, s, p, d, ceil_mode=ceil_mode)
    np.testing.assert_allclose(y.data, pool_by_definition(x.data, k, s, p, d, ceil_mode), rtol=1e-12)
    gradcheck(lambda x: F.max_pool2d(x, k, s, p, d, ceil_mode=ceil_mode), [x], **TOL)


@settings(max_examples=40, deadline=None)
@given(g=geometry, seed=st.integers(0, 2**16), count_include_pad=st.booleans(),
       divisor_override=st.sampled_from([None, None, 3]))
def test_avg_pool_with_ceil_mode_and_count_include_pad_equals_the_definition(g, seed, count_include_pad,
                                                                             divisor_override):
    k, s, p, _, h, w, ceil_mode = g
    assume(p <= k // 2 and min(h, w) + 2 * p >= k)
    x = Tensor(np.random.default_rng(seed).normal(size=(2, 3, h, w)), requires_grad=True)
    options = dict(ceil_mode=ceil_mode, count_include_pad=count_include_pad, divisor_override=divisor_override)
    y = F.avg_pool2d(x, k, s, p, **options)
    expected = pool_by_definition(x.data, k, s, p, 1, ceil_mode, "avg", count_include_pad, divisor_override)
    # A window's sum can cancel to nearly 0, where rtol alone fails on rounding: summed in another
    # order, n <= 9 terms of size <= max|x| differ by at most n * n * eps * max|x| (divisor >= 1).
    atol = 9 * 9 * np.finfo(np.float64).eps * np.abs(x.data).max()
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=atol)
    gradcheck(lambda x: F.avg_pool2d(x, k, s, p, **options), [x], **TOL)


def test_ceil_mode_keeps_the_last_partial_window_by_hand():
    """6 wide, kernel 3, stride 2: floor gives windows at 0 and 2; ceil adds one at 4 (columns
    4, 5); with padding 1, a window that would start in the right padding is dropped."""
    x = Tensor(np.arange(6.0).reshape(1, 1, 1, 6) * np.ones((1, 1, 3, 1)))
    assert F.max_pool2d(x, 3, 2).data[0, 0, 0].tolist() == [2.0, 4.0]
    assert F.max_pool2d(x, 3, 2, ceil_mode=True).data[0, 0, 0].tolist() == [2.0, 4.0, 5.0]
    assert F.avg_pool2d(x, 3, 2, ceil_mode=True).data[0, 0, 0].tolist() == pytest.approx([1.0, 3.0, 4.5])
    # padding 1: (6 + 2 - 3) / 2 = 2.5 -> 4 windows by ceil, starting at -1, 1, 3, 5 (< 6 + 1: kept)
    assert F.max_pool2d(x, 3, 2, 1, ceil_mode=True).shape == (1, 1, 2, 4)
    # 5 wide, kernel 2, stride 2, padding 1: ceil gives ceil(5 / 2) + 1 = 4 windows, but the 4th
    # would start at 3 * 2 - 1 = 5, in the right padding: dropped
    assert F.max_pool2d(Tensor(np.zeros((1, 1, 5, 5))), 2, 2, 1, ceil_mode=True).shape == (1, 1, 3, 3)


def test_count_include_pad_by_hand():
    """3x3 of ones, kernel 3, padding 1: the corner window holds 4 ones among 9 places."""
    x = Tensor(np.ones((1, 1, 3, 3)))
    assert F.avg_pool2d(x, 3, 1, 1).data[0, 0, 0, 0] == pytest.approx(4 / 9)
    assert F.avg_pool2d(x, 3, 1, 1, count_include_pad=False).data[0, 0, 0, 0] == pytest.approx(1.0)
    assert F.avg_pool2d(x, 3, 1, 1, divisor_override=2).data[0, 0, 0, 0] == pytest.approx(2.0)


def test_dilated_max_pool_by_hand():
    """A 5-wide row with kernel 2, dilation 3: windows take columns (0, 3) and (1, 4)."""
    x = Tensor(np.array([[[[5.0, 1.0, 0.0, 2.0, 9.0]]]]))
    assert F.max_pool2d(x, (1, 2), 1, dilation=(1, 3)).data.ravel().tolist() == [5.0, 9.0]


def test_pool_option_errors_are_named():
    x = Tensor(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="max_pool2d: return_indices=True is not supported"):
        F.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(ValueError, match="avg_pool2d: divisor_override must be a positive int"):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(ValueError, match="max_pool2d: dilation must be"):
        F.max_pool2d(x, 2, dilation=0)
    with pytest.raises(ValueError, match=r"dilated\) kernel \(5, 5\)"):
        F.max_pool2d(x, 3, dilation=2)


def test_layers_carry_the_options_and_avg_pool_is_not_a_max_pool():
    assert not issubclass(nn.AvgPool2d, nn.MaxPool2d)
    x = Tensor(spread((1, 2, 7, 7), 0))
    max_layer = nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True)
    np.testing.assert_allclose(max_layer(x).data, pool_by_definition(x.data, 3, 2, 1, 2, True))
    avg_layer = nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)
    np.testing.assert_allclose(avg_layer(x).data,
                               pool_by_definition(x.data, 3, 2, 1, 1, True, "avg", False))
    assert "ceil_mode=True" in repr(max_layer) and "dilation=2" in repr(max_layer)
    assert "count_include_pad=False" in repr(avg_layer)
