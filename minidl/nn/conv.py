"""Convolutional layer: a bank of learned filters slid over the image."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..geometry import pair
from ..tensor import ShapeError
from . import init
from .module import Module
from .parameter import Parameter


class Conv2d(Module):
    """(N, in_channels, H, W) -> (N, out_channels, OH, OW), OH = (H + 2P - D(k-1) - 1) // S + 1.

    One filter of shape (in_channels/groups, kh, kw) and one bias per output channel.
    Weights and bias start as U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) "
                             f"must both divide by groups ({groups})")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d", 1)
        self.stride, self.dilation = pair(stride, "stride", "Conv2d", 1), pair(dilation, "dilation", "Conv2d", 1)
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"Conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
        if isinstance(padding, str) and padding == "same" and self.stride != (1, 1):
            raise ValueError(f"Conv2d: padding='same' needs stride 1 (as in PyTorch), got stride={stride!r}")
        self.padding = padding if isinstance(padding, str) else pair(padding, "padding", "Conv2d", 0)
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        bound = 1 / math.sqrt(int(np.prod(shape[1:])))
        self.weight = init.uniform_(Parameter(np.empty(shape, np.float32)), -bound, bound)
        self.bias = init.uniform_(Parameter(np.empty(out_channels, np.float32)), -bound, bound) if bias else None

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ShapeError("Conv2d", f"input (N, {self.in_channels}, H, W)", tuple(x.shape))
        if x.dtype != self.weight.dtype:
            raise ShapeError("Conv2d", f"input of dtype {self.weight.dtype} (the weights' dtype)", f"dtype {x.dtype}")
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")
