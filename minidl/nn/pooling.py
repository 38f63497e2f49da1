"""Pooling layers (no parameters): max, average, adaptive average, PyTorch's arguments."""
from __future__ import annotations

from .. import functional as F
from .module import Module


class MaxPool2d(Module):
    """(N, C, H, W) -> (N, C, OH, OW): the maximum of each window.

    OH = (H + 2P - D(k - 1) - 1) / S + 1, rounded down, or up with ``ceil_mode=True`` (a last
    partial window that starts inside the input or its left padding; GoogLeNet's pools use it).
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, "
                f"padding={self.padding}, dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """(N, C, H, W) -> (N, C, OH, OW): the mean of each window; zero padding counts in it unless
    ``count_include_pad=False``; ``divisor_override`` divides every window's sum by one number."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, "
                f"padding={self.padding}, ceil_mode={self.ceil_mode}, "
                f"count_include_pad={self.count_include_pad}")


class AdaptiveAvgPool2d(Module):
    """(N, C, H, W) -> (N, C, oh, ow); output_size=1 is global average pooling."""

    def __init__(self, output_size=1):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
