"""CuPy fast paths for CUDA GPUs: the sliding-window ops as raw CUDA kernels (``windows.cu``),
and the convolution's blocked forward pass. Importable without CuPy: ``UNAVAILABLE`` says why
they cannot run then."""
from .common import UNAVAILABLE
from .conv import conv2d_backward, conv2d_forward
from .windows import col2im, im2col, max_pool2d_backward, max_pool2d_forward

__all__ = ["UNAVAILABLE", "col2im", "conv2d_backward", "conv2d_forward", "im2col", "max_pool2d_backward",
           "max_pool2d_forward"]
