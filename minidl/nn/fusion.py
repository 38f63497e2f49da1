"""A convolution and the batch norm after it, called as one: ``conv_bn(conv, bn, x)``."""
from __future__ import annotations

from .. import functional as F
from .conv import Conv2d
from .normalization import BatchNorm2d


def conv_bn(conv: Conv2d, bn: BatchNorm2d, x, relu: bool = False, residual=None):
    """bn(conv(x)), + residual where given (a residual block's shortcut), then ReLU where asked.
    Where bn normalises by its running statistics (evaluation, or frozen statistics), conv has
    no bias, neither module has hooks and both are the plain classes, one op,
    ``F.conv2d_batch_norm`` (which is the separate ops again where a graph is recorded); the
    same values either way. Otherwise the two modules, as written, then F.add_relu."""
    if _fusable(conv, bn, x):
        return F.conv2d_batch_norm(x, conv.weight, bn.running_mean, bn.running_var, bn.weight,
                                   bn.bias, conv.stride, conv.padding, conv.dilation, conv.groups,
                                   bn.eps, relu, residual)
    if residual is None:
        return bn(conv(x), relu=relu)
    y = bn(conv(x))
    return F.add_relu(y, residual) if relu else y + residual


def _fusable(conv, bn, x) -> bool:
    if type(conv) is not Conv2d or type(bn) is not BatchNorm2d or conv.bias is not None:
        return False
    if not bn.track_running_stats or (bn.training and not bn.frozen_stats):
        return False
    if any(m._forward_pre_hooks or m._forward_hooks or m._backward_hooks for m in (conv, bn)):
        return False
    # the modules' own checks (and their errors, which name the module) where these fail
    return (x.ndim == 4 and x.shape[1] == conv.in_channels and x.dtype == conv.weight.dtype
            and conv.out_channels == bn.num_features)
