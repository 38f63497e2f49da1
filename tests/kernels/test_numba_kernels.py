"""The Numba kernels (op.cpu) against minidl's NumPy references (op.reference), on shapes hypothesis draws.

Tolerances: im2col, max-pooling and ReLU must match the reference exactly (they only copy,
compare or mask values). col2im sums overlapping windows; it adds in the reference's order, but
the check allows rtol 1e-6 (float32) / 1e-12 (float64) for summation order all the same.
Batch norm sums in float64 where the reference sums in the input's dtype: float64 results agree
to rtol 1e-10, float32 ones to rtol 1e-4 / atol 1e-5 (values of order 1).
"""
import contextlib
from unittest import mock

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minidl.geometry import window_geometry
from minidl.functional.activation import add_relu_forward, relu_backward, relu_forward
from minidl.functional.conv import col2im, conv2d_backward, conv2d_forward, im2col
from minidl.functional.norm import batch_norm_backward, batch_norm_forward_eval, batch_norm_forward_train
from minidl.functional.pool import max_pool2d_backward, max_pool2d_forward
from minidl.kernels import cpu as nb
from minidl.kernels.cpu import conv as nb_conv
from minidl.kernels.cpu import im2col_conv as nb_im2col_conv
from minidl.kernels.cpu import threads as nb_threads
from minidl.kernels.cpu import windows as nb_windows
from .window_cases import Case, cases, pointwise_inputs

SUM_TOL = {np.float32: dict(rtol=1e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
BN_TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


def assert_same(actual, expected):
    """Same shape, dtype and values (NaN where the reference has NaN)."""
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)


@settings(max_examples=40, deadline=None)
@given(case=cases())
@example(case=Case((1, 1, 1, 1), 1, 3, (1, 1), (0, 2), (1, 2), np.float32, 0))
def test_each_row_of_im2col_writes_its_own_row_only(case):
    """Shares of im2col's rows run at once on different threads, so a row must not write outside
    its own stretch of the columns, not even zeros: windows whose padding is wider than the
    output once zeroed the start of the next row (found with a 1x1 image, padding 2, dilation 2)."""
    x = case.normal()
    cols = im2col.reference(x, *case.args)
    kh, kw, (sh, sw), (ph, pw), (dh, dw) = case.args
    n, c, h, w = x.shape
    *_, oh, ow = window_geometry("im2col", (h, w), kh, kw, (sh, sw), (ph, pw), (dh, dw))
    for r in range(cols.shape[0]):
        out = np.full(cols.size, np.nan, dtype=x.dtype)
        nb_windows.im2col_rows(r, r + 1, x.reshape(-1), out, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
        out = out.reshape(cols.shape)
        assert_same(out[r], cols[r])
        assert np.isnan(np.delete(out, r, axis=0)).all()


@settings(max_examples=40, deadline=None)
@given(case=cases(), contiguous=st.booleans())
def test_im2col_matches_reference(case, contiguous):
    x = case.normal()
    if not contiguous:                       # a strided view: (N, C, W, H) data transposed back
        x = np.ascontiguousarray(x.swapaxes(2, 3)).swapaxes(2, 3)
    before = x.copy()
    expected = im2col.reference(x, *case.args)
    assert_same(nb.im2col(x, *case.args), expected)
    np.testing.assert_array_equal(x, before)
    out = np.full(expected.shape, np.nan, dtype=expected.dtype)     # every entry must be written
    assert nb.im2col(x, *case.args, out=out) is out
    assert_same(out, expected)
    ref_out = np.full(expected.shape, np.nan, dtype=expected.dtype)
    assert im2col.reference(x, *case.args, out=ref_out) is ref_out
    assert_same(ref_out, expected)
    one = np.full(expected.shape, np.nan, dtype=expected.dtype)      # the worker threads' loops
    assert_same(nb.im2col(x, *case.args, out=one, one_thread=True), expected)


@settings(max_examples=40, deadline=None)
@given(case=cases())
def test_col2im_matches_reference(case):
    cols_shape = im2col.reference(np.zeros(case.shape, case.dtype), *case.args).shape
    cols = case.normal(cols_shape)
    expected = col2im.reference(cols, case.shape, *case.args)
    for one_thread in (False, True):
        actual = nb.col2im(cols, case.shape, *case.args, one_thread=one_thread)
        assert actual.shape == expected.shape and actual.dtype == expected.dtype
        np.testing.assert_allclose(actual, expected, **SUM_TOL[case.dtype])


@pytest.mark.parametrize("one_thread", [False, True])
@pytest.mark.parametrize("slab_planes", [1, 2, 3, 100])
def test_col2im_gives_the_same_bits_however_the_images_are_split_into_tasks(monkeypatch, slab_planes,
                                                                            one_thread):
    """Each task sums a (channel, block of images) slab of dx; blocks of 1, 2, 3 or all 7 images
    (a short last block included), on Numba's threads or on the calling thread alone, must change
    nothing, not even the rounding."""
    shape, args = (7, 3, 5, 5), (3, 3, (1, 1), (1, 1), (1, 1))
    cols = np.random.default_rng(0).standard_normal((27, 7 * 25)).astype(np.float32)
    plane_bytes = 25 * cols.itemsize
    monkeypatch.setattr(nb_windows, "_COL2IM_SLAB", slab_planes * plane_bytes)
    assert nb_windows._col2im_chunk(7, 3, plane_bytes, 2) <= slab_planes
    np.testing.assert_array_equal(nb.col2im(cols, shape, *args, one_thread=one_thread),
                                  col2im.reference(cols, shape, *args))


@st.composite
def conv_inputs(draw):
    """A window case with filters: (x, w, b or None, stride, padding, dilation, groups)."""
    case = draw(cases())
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if case.shape[1] % g == 0]))
    f = groups * draw(st.integers(1, 3))
    rng = np.random.default_rng(case.seed + 2)
    w = rng.standard_normal((f, case.shape[1] // groups, case.kh, case.kw)).astype(case.dtype)
    b = rng.standard_normal(f).astype(case.dtype) if draw(st.booleans()) else None
    return case.normal(), w, b, case.stride, case.padding, case.dilation, groups


@settings(max_examples=40, deadline=None)
@given(inputs=conv_inputs(), block_images=st.sampled_from([None, 1, 2]), shares=st.integers(1, 3))
def test_conv2d_forward_and_backward_match_reference_in_blocks_of_any_size(inputs, block_images, shares):
    """Also split into 1, 2 or 3 shares however small (uneven shares when N is not a multiple):
    each share writes its images' y and dL/dx, and dL/dW sums the shares' parts."""
    with split_over(shares):
        check_fast_convolution(inputs, block_images)


@st.composite
def depthwise_inputs(draw):
    """A window case whose filters are depthwise: groups == channels == filters (MobileNet's)."""
    case = draw(cases(max_channels=4))
    c = case.shape[1]
    rng = np.random.default_rng(case.seed + 3)
    w = rng.standard_normal((c, 1, case.kh, case.kw)).astype(case.dtype)
    b = rng.standard_normal(c).astype(case.dtype) if draw(st.booleans()) else None
    return case.normal(), w, b, case.stride, case.padding, case.dilation, c


@settings(max_examples=40, deadline=None)
@given(inputs=depthwise_inputs())
def test_depthwise_convolution_matches_reference(inputs):
    """groups == channels takes the depthwise loops (with one channel, the blocked path)."""
    check_fast_convolution(inputs, None)


@settings(max_examples=40, deadline=None)
@given(inputs=pointwise_inputs())
def test_pointwise_convolution_matches_reference(inputs):
    """1x1 layers skip the columns: y[n] = W x[n] straight from the input (strided: every s-th
    pixel), dx scattered back, dW summed image by image."""
    check_fast_convolution(inputs, None)


def check_fast_convolution(inputs, block_images):
    """The fast convolution builds the columns a block of images at a time (one image: products
    straight into y; two: a short last block when N is odd; None: the default block) and sums
    dL/dW over the blocks. The products are BLAS calls on fewer columns, summed in another
    order: agreement to 1e-5 (float32) and 1e-12 (float64) relative."""
    x, w, b, stride, padding, dilation, groups = inputs
    tol = dict(rtol=1e-5, atol=1e-5) if x.dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    args = (stride, padding, dilation, groups)
    y_ref = conv2d_forward.reference(x, w, b, *args)
    g = np.random.default_rng(int(abs(x.flat[0]) * 1e6)).standard_normal(y_ref.shape).astype(x.dtype)
    dx_ref, dw_ref = conv2d_backward.reference(g, x, w, *args)
    cols_bytes = im2col.reference(x, *w.shape[2:], stride, padding, dilation).nbytes // x.shape[0]
    with contextlib.ExitStack() as blocks:
        for module in (nb_conv, nb_im2col_conv):     # NumPy's products (groups > 1), and BLAS's
            block = module.BLOCK_BYTES if block_images is None else block_images * cols_bytes
            blocks.enter_context(mock.patch.object(module, "BLOCK_BYTES", block))
        y = nb.conv2d_forward(x, w, b, *args)
        dx, dw = nb.conv2d_backward(g, x, w, *args)
        dx_only, no_dw = nb.conv2d_backward(g, x, w, *args, need_dw=False)
        no_dx, dw_only = nb.conv2d_backward(g, x, w, *args, need_dx=False)
    for actual, expected in ((y, y_ref), (dx, dx_ref), (dw, dw_ref), (dx_only, dx_ref), (dw_only, dw_ref)):
        assert actual.shape == expected.shape and actual.dtype == expected.dtype
        np.testing.assert_allclose(actual, expected, **tol)
    assert no_dw is None and no_dx is None


@settings(max_examples=30, deadline=None)
@given(case=cases())
def test_col2im_is_the_adjoint_of_im2col(case):
    """<im2col(x), cols> == <x, col2im(cols)> for every x and cols (float64, rtol 1e-10)."""
    rng = np.random.default_rng(case.seed)
    x = rng.standard_normal(case.shape)
    cols = rng.standard_normal(nb.im2col(x, *case.args).shape)
    lhs = np.vdot(nb.im2col(x, *case.args), cols)
    rhs = np.vdot(x, nb.col2im(cols, case.shape, *case.args))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(case=cases(pool=True), special=st.sampled_from(["none", "nan", "-inf"]), shares=st.integers(1, 3))
def test_max_pool_forward_matches_reference_including_ties(case, special, shares):
    x = case.ties()                          # many equal maxima: the first in the window wins
    if special != "none":                    # a NaN wins its window; -inf rows lose to padding
        rng = np.random.default_rng(case.seed + 1)
        x[rng.random(case.shape) < 0.15] = np.nan if special == "nan" else -np.inf
    with split_over(shares):
        out, argmax = nb.max_pool2d_forward(x, *case.pool_args)
    ref_out, ref_argmax = max_pool2d_forward.reference(x, *case.pool_args)
    assert_same(out, ref_out)
    assert_same(argmax, ref_argmax)


def test_max_pool_forward_picks_the_first_of_equal_maxima():
    """A hand-made plane: window [[1, 3], [3, 0]] has two 3s; the row-major first one wins."""
    x = np.array([[[[1, 3, 5, 5], [3, 0, 5, 5]]]], dtype=np.float32)   # (1, 1, 2, 4)
    out, argmax = nb.max_pool2d_forward(x, 2, 2, (2, 2), (0, 0))
    np.testing.assert_array_equal(out, [[[[3, 5]]]])
    np.testing.assert_array_equal(argmax, [[[[1, 2]]]])


@settings(max_examples=40, deadline=None)
@given(case=cases(pool=True), shares=st.integers(1, 3))
def test_max_pool_backward_matches_reference(case, shares):
    """Overlapping windows (stride < kernel) send several gradients to one input."""
    _, argmax = max_pool2d_forward.reference(case.ties(), *case.pool_args)
    dout = case.normal(argmax.shape)
    with split_over(shares):
        dx = nb.max_pool2d_backward(dout, argmax, case.shape)
    assert_same(dx, max_pool2d_backward.reference(dout, argmax, case.shape))


@pytest.mark.parametrize("call, error, words", [
    (lambda: nb.im2col(np.zeros((2, 3, 4, 4), np.int64), 2, 2), TypeError,
     "im2col: x must be float32 or float64, got int64"),
    (lambda: nb.im2col(np.zeros((3, 4, 4), np.float32), 2, 2), ValueError,
     r"im2col: x must be 4-d, got shape \(3, 4, 4\)"),
    (lambda: nb.im2col(np.zeros((1, 1, 4, 4)), 5, 5), ValueError,
     "im2col: a 5x5 window .* does not fit a 4x4 input"),
    (lambda: nb.conv2d_forward(np.zeros((4, 1, 4, 4)), np.zeros((2, 1, 5, 5)), None, (1, 1), (0, 0), (1, 1), 1),
     ValueError, "conv2d_forward: a 5x5 window .* does not fit a 4x4 input"),
    (lambda: nb.im2col(np.zeros((1, 1, 4, 4)), 2, 2, stride=(0, 1)), ValueError,
     r"im2col: stride must be an int or a pair of ints >= 1, got \(0, 1\)"),
    (lambda: nb.im2col(np.zeros((1, 1, 4, 4)), 2, 2, out=np.zeros((4, 8))), ValueError,
     r"im2col: out must be a C-contiguous numpy array of shape \(4, 9\) and dtype float64, got "
     r"ndarray \(4, 8\) float64"),
    (lambda: nb.im2col(np.zeros((1, 1, 4, 4)), 2, 2, out=np.zeros((9, 4)).T), ValueError,
     "im2col: out must be a C-contiguous"),
    (lambda: nb.col2im(np.zeros((4, 8)), (1, 1, 4, 4), 2, 2), ValueError,
     r"col2im: cols must have shape \(4, 9\)"),
    (lambda: nb.col2im(np.zeros((1, 4, 9)), (1, 1, 4, 4), 2, 2), ValueError,
     r"col2im: cols must be 2-d, got shape \(1, 4, 9\)"),
    (lambda: nb.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), 16),
                                    (1, 1, 4, 4)), ValueError,
     "max_pool2d_backward: 4 argmax entries fall outside the 4x4 input plane"),
    (lambda: nb.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2)),
                                    (1, 1, 4, 4)), TypeError,
     "max_pool2d_backward: argmax must be an integer NumPy array, got float64"),
])
def test_bad_input_names_the_function_and_the_problem(call, error, words):
    with pytest.raises(error, match=words):
        call()


def split_over(shares):
    """Every threads.split call cut into 1-3 shares on the worker threads, however small."""
    stack = contextlib.ExitStack()
    stack.enter_context(mock.patch.object(nb_threads, "PARALLEL_WORK", 0))
    stack.enter_context(mock.patch.object(nb_threads, "shares", lambda n: max(1, min(n, shares))))
    return stack


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**32 - 1), shares=st.integers(1, 3))
def test_relu_matches_reference(shape, dtype, seed, shares):
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, shape).astype(dtype)          # exact zeros sit on ReLU's kink
    x[rng.random(shape) < 0.1] = np.nan
    dy = rng.standard_normal(shape).astype(dtype)
    y = relu_forward.reference(x)
    with split_over(shares):
        assert_same(nb.relu_forward(x), y)
        assert_same(nb.relu_backward(dy, y), relu_backward.reference(dy, y))


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**32 - 1), shares=st.integers(1, 3))
def test_add_relu_matches_reference(shape, dtype, seed, shares):
    rng = np.random.default_rng(seed)
    a, b = (rng.integers(-2, 3, shape).astype(dtype) for _ in range(2))   # sums of 0 on the kink
    a[rng.random(shape) < 0.1] = np.nan
    with split_over(shares):
        assert_same(nb.add_relu_forward(a, b), add_relu_forward.reference(a, b))
    row = b.reshape(-1)[:1]                 # broadcasting and mixed dtypes: left to the reference
    for other in (row, b.astype(np.float16)):
        same = other.shape == a.shape and other.dtype == a.dtype
        assert (nb.add_relu_forward(a, other) is NotImplemented) == (not same)
        assert_same(add_relu_forward(a, other), add_relu_forward.reference(a, other))


@st.composite
def norm_inputs(draw):
    """(N, C) or (N, C, H, W) with at least two values per channel, off-centre and scaled."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n, c = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    shape = (n, c) if draw(st.booleans()) else (n, c, draw(st.integers(1, 5)),
                                                 draw(st.integers(1, 5)))
    if np.prod(shape) // c < 2:
        shape = (shape[0] + 1,) + shape[1:]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = (3 + 2 * rng.standard_normal(shape)).astype(dtype)
    gamma, beta = (rng.standard_normal(c).astype(dtype) for _ in range(2))
    dy = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, dy


@settings(max_examples=40, deadline=None)
@given(inputs=norm_inputs(), shares=st.integers(1, 3), relu=st.booleans())
def test_batch_norm_matches_reference(inputs, shares, relu):
    """relu: the ReLU taken into the forward's last pass, and its mask into the backward."""
    x, gamma, beta, dy = inputs
    tol = BN_TOL[x.dtype.type]
    with split_over(shares):
        forward = nb.batch_norm_forward_train(x, gamma, beta, 1e-5, relu=relu)
    reference = batch_norm_forward_train.reference(x, gamma, beta, 1e-5, relu=relu)
    for name, actual, expected in zip(["y", "mean", "var", "xhat", "inv_std"], forward, reference):
        assert actual.shape == expected.shape and actual.dtype == expected.dtype, name
        np.testing.assert_allclose(actual, expected, err_msg=name, **tol)
    y, _, _, xhat, inv_std = reference
    y = y if relu else None
    with split_over(shares):
        backward = nb.batch_norm_backward(dy, xhat, gamma, inv_std, y)
    for name, actual, expected in zip(["dx", "dgamma", "dbeta"], backward,
                                      batch_norm_backward.reference(dy, xhat, gamma, inv_std, y)):
        assert actual.shape == expected.shape and actual.dtype == expected.dtype, name
        np.testing.assert_allclose(actual, expected, err_msg=name, **tol)


@settings(max_examples=40, deadline=None)
@given(inputs=norm_inputs(), keep=st.booleans(), shares=st.integers(1, 3), relu=st.booleans())
def test_batch_norm_eval_matches_reference_bit_for_bit(inputs, keep, shares, relu):
    """The same float operations in the same order per element: identical results."""
    x, gamma, beta, _ = inputs
    rng = np.random.default_rng(int(abs(x.flat[0]) * 1e6))
    mean = rng.standard_normal(x.shape[1]).astype(x.dtype) + 3     # about half the outputs < 0
    var = rng.random(x.shape[1]).astype(x.dtype) + 0.1
    with split_over(shares):
        y, xhat, inv_std = nb.batch_norm_forward_eval(x, gamma, beta, mean, var, 1e-5, keep_xhat=keep,
                                                      relu=relu)
    y_ref, xhat_ref, inv_std_ref = batch_norm_forward_eval.reference(x, gamma, beta, mean, var, 1e-5,
                                                                      relu=relu)
    assert_same(y, y_ref)
    assert_same(inv_std, inv_std_ref)
    if keep:
        assert_same(xhat, xhat_ref)
    else:
        assert xhat is None


def test_batch_norm_rejects_parameters_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"batch_norm_forward_train: gamma must have shape \(3,\)"):
        nb.batch_norm_forward_train(np.zeros((4, 3)), np.ones(2), np.zeros(3), 1e-5)


def test_batch_norm_variance_survives_a_large_mean():
    """Mean 1e4, spread 1e-2 (float64): E[x^2] - E[x]^2 unshifted would lose every digit."""
    rng = np.random.default_rng(7)
    x = 1e4 + 1e-2 * rng.standard_normal((16, 3, 5, 5))
    gamma, beta = np.ones(3), np.zeros(3)
    _, mean, var, xhat, _ = nb.batch_norm_forward_train(x, gamma, beta, 1e-12)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3)), rtol=1e-14)
    np.testing.assert_allclose(var, x.var(axis=(0, 2, 3)), rtol=1e-8)
    np.testing.assert_allclose(xhat.std(axis=(0, 2, 3)), 1.0, rtol=1e-6)
