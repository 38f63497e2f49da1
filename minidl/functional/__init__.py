"""Stateless ops, PyTorch's ``torch.nn.functional`` names and argument order.

One file per family, each op's forward beside its backward:
basic (arithmetic, shapes, matmul, linear) · reduction · activation · conv · pool · norm ·
fused (a convolution and its evaluation-mode batch norm as one op) · dropout · loss;
``methods`` attaches the ops to Tensor as its operators and methods.
"""
from . import methods  # noqa: F401  gives Tensor its operators (a + b, x.sum(), ...)
from .activation import add_relu, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .basic import (abs, add, cat, clip, concatenate, div, exp, flatten, linear, log, matmul, maximum,
                    mul, neg, pad, permute, pow, reshape, sqrt, squeeze, stack, sub, transpose,
                    unsqueeze)
from .conv import conv2d, conv_output_shape
from .dropout import dropout
from .fused import conv2d_batch_norm
from .loss import binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss
from .norm import batch_norm
from .pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .reduction import argmax, argmin, max, mean, min, std, sum, var

__all__ = [
    "abs", "add", "add_relu", "adaptive_avg_pool2d", "argmax", "argmin", "avg_pool2d", "batch_norm", "binary_cross_entropy_with_logits",
    "cat", "clip", "concatenate", "conv2d", "conv2d_batch_norm", "conv_output_shape", "cross_entropy", "div", "dropout",
    "exp", "flatten", "leaky_relu", "linear", "log", "log_softmax", "matmul", "max", "max_pool2d",
    "maximum", "mean", "min", "mse_loss", "mul", "neg", "nll_loss", "pad", "permute", "pow", "relu",
    "reshape", "sigmoid", "softmax", "sqrt", "squeeze", "stack", "sub", "sum", "tanh", "transpose",
    "unsqueeze", "std", "var",
]
