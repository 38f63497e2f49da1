"""conv2d_batch_norm_eval (kernels/cpu/conv.py): the convolution with the evaluation-mode batch
norm after it, then a residual and a ReLU, as one op. On the Winograd path all of it is applied
in the output transform: the same operations as the batch norm and add_relu kernels on the
convolution kernel's output, so the same bits. Every path against the reference composition
(conv2d_forward.reference, then batch_norm_forward_eval.reference, the residual) to the fast
convolutions' tolerance: rtol 1e-5 (float32), 1e-12 (float64)."""
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.functional.activation import add_relu_forward
from minidl.functional.fused import conv2d_batch_norm_eval
from minidl.kernels import cpu as nb
from minidl.kernels.cpu import conv as nb_conv
from minidl.kernels.cpu import threads as nb_threads
from minidl.kernels.cpu import winograd
from .paths import counted
from .test_numba_kernels import assert_same, conv_inputs, depthwise_inputs
from .test_winograd import three_by_three_inputs


RESIDUALS = st.sampled_from([None, "same", "float64"])


def statistics(f, dtype, seed):
    """gamma, beta, running mean and variance for f channels: about half the outputs < 0."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(0.5, 2, f).astype(dtype), rng.standard_normal(f).astype(dtype),
            rng.standard_normal(f).astype(dtype), rng.uniform(0.2, 3, f).astype(dtype))


def check(inputs, relu, residual):
    """residual: None, "same" (the output's shape and dtype) or "float64" (another dtype, which
    the fast path leaves to the separate kernels)."""
    x, w, _, stride, padding, dilation, groups = inputs
    args = (stride, padding, dilation, groups)
    seed = int(abs(x.flat[0]) * 1e6)
    bn = statistics(w.shape[0], x.dtype, seed)
    y = nb.conv2d_forward(x, w, None, *args)
    if residual is not None:
        residual = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(
            x.dtype if residual == "same" else np.float64)
    fused = conv2d_batch_norm_eval(x, w, *args, *bn, 1e-5, relu, residual)     # its .cpu version
    apart = nb.batch_norm_forward_eval(y, *bn, 1e-5, keep_xhat=False, relu=relu and residual is None)[0]
    if residual is not None:
        apart = add_relu_forward(apart, residual) if relu else apart + residual
    assert_same(fused, apart)
    reference = conv2d_batch_norm_eval.reference(x, w, *args, *bn, 1e-5, relu, residual)
    tol = dict(rtol=1e-5, atol=1e-5) if x.dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    assert fused.shape == reference.shape and fused.dtype == reference.dtype
    np.testing.assert_allclose(fused, reference, **tol)


@settings(max_examples=60, deadline=None)
@given(inputs=three_by_three_inputs(), relu=st.booleans(), residual=RESIDUALS, shares=st.integers(1, 3),
       one_image_blocks=st.booleans())
def test_winograd_layers_normalise_in_the_output_transform(inputs, relu, residual, shares, one_image_blocks):
    """3x3 stride-1 layers, odd and even output sizes, over 1-3 worker threads, one image per
    block or the default blocks: the fused op equals the separate kernels bit for bit."""
    forward = counted(nb_conv.winograd_conv2d_forward)
    with (mock.patch.object(nb_conv, "WINOGRAD_MIN_CHANNELS", 1),
          mock.patch.object(nb_conv, "DIRECT_MAX_CHANNELS", 0),
          mock.patch.object(winograd, "BLOCK_BYTES", 1 if one_image_blocks else winograd.BLOCK_BYTES),
          mock.patch.object(nb_conv, "winograd_conv2d_forward", forward),
          mock.patch.object(nb_threads, "shares", lambda n: max(1, min(n, shares)))):
        check(inputs, relu, residual)
    assert forward.calls >= 2          # the fused op's and the convolution's own


@settings(max_examples=40, deadline=None)
@given(inputs=st.one_of(conv_inputs(), depthwise_inputs()), relu=st.booleans(), residual=RESIDUALS)
def test_every_other_layer_gives_the_separate_kernels_values(inputs, relu, residual):
    """Strides, dilations, groups, 1x1, depthwise: the passes one after the other."""
    check(inputs, relu, residual)
