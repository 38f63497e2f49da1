"""A convolution and the evaluation-mode batch norm after it (and a residual block's add and
ReLU after that), as one op.

With its running statistics batch norm is a fixed affine map per channel,
    y = (v - mean) / sqrt(var + eps) * gamma + beta,
so it can be applied to each output v of the convolution as the convolution writes it, instead of
in a second pass over the whole output (``kernels/cpu/conv.py`` does it in Winograd's output
transform), with the same operations and so the same values. Nothing is kept for a backward pass:
where a graph is recorded (some input requires grad and autograd is on), or an op recorder listens
(minidl.onnx), ``conv2d_batch_norm`` runs the two ops as ever.
"""
from __future__ import annotations

from .. import kernels
from ..backend import get_array_module
from ..kernels import cpu
from ..tensor import ShapeError, Tensor, is_grad_enabled, is_recording
from .activation import add_relu, add_relu_forward
from .conv import conv2d, conv2d_arguments, conv2d_forward, conv_output_shape
from .norm import batch_norm, batch_norm_arguments, batch_norm_forward_eval


@kernels.dispatch(cpu=cpu.conv2d_batch_norm_eval)
def conv2d_batch_norm_eval(x, w, stride, padding, dilation, groups, gamma, beta, mean, var, eps,
                           relu=False, residual=None):
    """Reference: conv2d_forward without bias, then batch_norm_forward_eval, then + residual
    where given, then max(0, .) with relu: the separate ops one after the other."""
    y = conv2d_forward(x, w, None, stride, padding, dilation, groups)
    y = batch_norm_forward_eval(y, gamma, beta, mean, var, eps, keep_xhat=False,
                                relu=relu and residual is None)[0]
    if residual is None:
        return y
    return add_relu_forward(y, residual) if relu else y + residual


def conv2d_batch_norm(x, weight, running_mean, running_var, bn_weight=None, bn_bias=None, stride=1,
                      padding=0, dilation=1, groups=1, eps=1e-5, relu=False, residual=None):
    """batch_norm(conv2d(x, weight, None, stride, padding, dilation, groups), running_mean,
    running_var, bn_weight, bn_bias, training=False, eps=eps), plus residual where given (a
    residual block's shortcut), then relu where asked: the same values as those ops, and one op
    where no graph is recorded. x (N, C, H, W) -> (N, F, OH, OW)."""
    tensors = [t for t in (x, weight, bn_weight, bn_bias, residual) if isinstance(t, Tensor)]
    if (is_grad_enabled() and any(t.requires_grad for t in tensors)) or is_recording():
        y = conv2d(x, weight, None, stride, padding, dilation, groups)
        y = batch_norm(y, running_mean, running_var, bn_weight, bn_bias, training=False, eps=eps,
                       relu=relu and residual is None)
        if residual is None:
            return y
        return add_relu(y, residual) if relu else y + residual
    x, stride, padding, dilation = conv2d_arguments(x, weight, None, stride, padding, dilation, groups)
    shape = conv_output_shape(x.shape, weight.shape, stride, padding, dilation)
    batch_norm_arguments(shape, running_mean, running_var, bn_weight, bn_bias, False)
    if residual is not None and tuple(residual.shape) != shape:
        raise ShapeError("conv2d_batch_norm", f"a residual of the output's shape {shape}",
                         tuple(residual.shape))
    f, xp = weight.shape[0], get_array_module(x.data)
    gamma = xp.ones(f, x.dtype) if bn_weight is None else _data(bn_weight)
    beta = xp.zeros(f, x.dtype) if bn_bias is None else _data(bn_bias)
    return Tensor(conv2d_batch_norm_eval(_data(x), _data(weight), stride, padding, dilation, groups,
                                         gamma, beta, running_mean, running_var, eps, relu,
                                         _data(residual)))


def _data(t):
    return t.data if isinstance(t, Tensor) else t
