"""The Inception module of GoogLeNet (Szegedy et al. 2015) and the cost of a convolution.

Four branches look at the same input in parallel and their outputs are concatenated along
the channels (every branch keeps H and W):

    branch1: 1x1 conv -> ch1x1
    branch2: 1x1 conv -> ch3x3red, 3x3 conv -> ch3x3
    branch3: 1x1 conv -> ch5x5red, 5x5 conv -> ch5x5
    branch4: 3x3 max-pool (stride 1), 1x1 conv -> pool_proj

each conv followed by ReLU. ``reductions=False`` builds the paper's "naive" module instead:
the 3x3 and 5x5 convolutions read all in_ch channels directly and the pooling branch passes its
in_ch channels through unprojected -- the version whose cost the 1x1 reductions were invented
to cut (compare ``num_parameters()`` and ``multiply_adds(h, w)`` of the two).
"""
from __future__ import annotations

from .. import functional as F
from .. import nn

__all__ = ["InceptionModule", "conv2d_multiply_adds"]


def conv2d_multiply_adds(conv: nn.Conv2d, input_hw) -> int:
    """Multiply-adds of one image through ``conv`` at input size (H, W):
    OH * OW * out_channels * (in_channels / groups) * kh * kw (the bias adds are not counted)."""
    h, w = (input_hw, input_hw) if isinstance(input_hw, int) else input_hw
    _, out_channels, oh, ow = F.conv_output_shape((1, conv.in_channels, h, w), conv.weight.shape,
                                                  conv.stride, conv.padding, conv.dilation)
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d_multiply_adds: a {h}x{w} input is smaller than the "
                         f"{conv.kernel_size} kernel with padding {conv.padding}")
    in_per_group = conv.in_channels // conv.groups
    return oh * ow * out_channels * in_per_group * conv.kernel_size[0] * conv.kernel_size[1]


def _conv_relu(in_ch, out_ch, kernel_size):
    return [nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2), nn.ReLU()]


class InceptionModule(nn.Module):
    """(N, in_ch, H, W) -> (N, out_channels, H, W), out_channels = ch1x1 + ch3x3 + ch5x5 +
    pool_proj (with reductions) or ch1x1 + ch3x3 + ch5x5 + in_ch (without).

    Without reductions ch3x3red, ch5x5red and pool_proj are not used.
    """

    def __init__(self, in_ch: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int, reductions: bool = True):
        super().__init__()
        self.in_ch, self.reductions = in_ch, reductions
        pool = nn.MaxPool2d(3, stride=1, padding=1)
        self.branch1 = nn.Sequential(*_conv_relu(in_ch, ch1x1, 1))
        if reductions:
            self.branch2 = nn.Sequential(*_conv_relu(in_ch, ch3x3red, 1), *_conv_relu(ch3x3red, ch3x3, 3))
            self.branch3 = nn.Sequential(*_conv_relu(in_ch, ch5x5red, 1), *_conv_relu(ch5x5red, ch5x5, 5))
            self.branch4 = nn.Sequential(pool, *_conv_relu(in_ch, pool_proj, 1))
            self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        else:
            self.branch2 = nn.Sequential(*_conv_relu(in_ch, ch3x3, 3))
            self.branch3 = nn.Sequential(*_conv_relu(in_ch, ch5x5, 5))
            self.branch4 = nn.Sequential(pool)
            self.out_channels = ch1x1 + ch3x3 + ch5x5 + in_ch

    def forward(self, x):
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return F.cat([branch(x) for branch in branches], axis=1)

    def multiply_adds(self, h: int, w: int) -> int:
        """Multiply-adds of the convolutions for one (in_ch, h, w) input (every conv here keeps
        the map at h x w; the max-pool's comparisons are not counted)."""
        return sum(conv2d_multiply_adds(m, (h, w)) for m in self.modules() if isinstance(m, nn.Conv2d))

    def extra_repr(self) -> str:
        return f"in_ch={self.in_ch}, out_channels={self.out_channels}, reductions={self.reductions}"
