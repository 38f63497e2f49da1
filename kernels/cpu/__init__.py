"""Numba fast paths for the CPU, one module per op family, each function with the signature and
results of its NumPy reference in ``minidl.functional``.

Compiled machine code is cached beside these files (``cache=True``), so only the first run on a
machine pays the compile time. Only float32 and float64 arrays are accepted.
"""
from .activation import add_relu_forward, relu_backward, relu_forward
from .conv import conv2d_backward, conv2d_batch_norm_eval, conv2d_forward
from .norm import batch_norm_backward, batch_norm_forward_eval, batch_norm_forward_train
from .pool import max_pool2d_backward, max_pool2d_forward
from .windows import col2im, im2col

UNAVAILABLE = None  # Numba is a required dependency: these kernels always load

__all__ = ["add_relu_forward", "batch_norm_backward", "batch_norm_forward_eval", "batch_norm_forward_train", "col2im",
           "conv2d_backward", "conv2d_batch_norm_eval", "conv2d_forward", "im2col", "max_pool2d_backward", "max_pool2d_forward",
           "relu_backward", "relu_forward"]
