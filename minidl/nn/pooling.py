"""Pooling layers (no parameters): max, average, adaptive average."""
from __future__ import annotations

from .. import functional as F
from .module import Module


class MaxPool2d(Module):
    """(N, C, H, W) -> (N, C, OH, OW): the maximum of each window."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class AvgPool2d(MaxPool2d):
    """(N, C, H, W) -> (N, C, OH, OW): the mean of each window."""

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool2d(Module):
    """(N, C, H, W) -> (N, C, oh, ow); output_size=1 is global average pooling."""

    def __init__(self, output_size=1):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
