"""MobileNet-V2 (Sandler et al. 2018) with torchvision's layout and parameter names.

    features.0: 3x3/2 conv 3->32, BN, ReLU6                    (N, 3, 224, 224) -> (N, 32, 112, 112)
    features.1-17: inverted residual blocks (t, c, n, s) =
        (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1)
                                                                -> (N, 320, 7, 7)
    features.18: 1x1 conv 320->1280, BN, ReLU6                  -> (N, 1280, 7, 7)
    global average, classifier = (Dropout 0.2, Linear)          -> (N, num_classes)

An inverted residual block expands to t * C_in channels with a 1x1 conv (skipped when t = 1),
filters each channel on its own with a 3x3 *depthwise* conv (groups = channels, the stride),
projects back with a linear 1x1 conv (no activation), and adds its input when the shape is
unchanged. Parameters are named as torchvision's (``features.2.conv.0.0.weight``, ...), so its
published weights (mobilenet_v2-b0353104.pth, 3,504,872 parameters) load strictly. Any input
of at least 32x32 works.
"""
from __future__ import annotations

from .. import functional as F
from .. import nn

__all__ = ["INVERTED_RESIDUAL_SETTING", "InvertedResidual", "MobileNetV2", "ReLU6",
           "conv_bn_relu6", "mobilenet_v2"]

INVERTED_RESIDUAL_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class ReLU6(nn.Module):
    """min(max(x, 0), 6), elementwise (PyTorch's nn.ReLU6)."""

    def forward(self, x):
        return F.clip(x, 0.0, 6.0)


def conv_bn_relu6(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                  groups: int = 1) -> nn.Sequential:
    """torchvision's Conv2dNormActivation: Sequential(conv (no bias, 'same' padding), BN, ReLU6)."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                                   padding=(kernel_size - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(out_channels), ReLU6())


class InvertedResidual(nn.Module):
    """(N, inp, H, W) -> (N, oup, H/stride, W/stride): expand (1x1), depthwise 3x3, project
    (1x1, linear), plus the input when stride == 1 and inp == oup."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual: stride must be 1 or 2, got {stride}")
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = [conv_bn_relu6(inp, hidden, 1)] if expand_ratio != 1 else []
        layers += [conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """(N, 3, H, W) -> (N, num_classes). Children: features (19 stages), classifier."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        channels, self.last_channel = 32, 1280
        layers = [conv_bn_relu6(3, channels, 3, stride=2)]
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            for i in range(n):
                layers.append(InvertedResidual(channels, c, s if i == 0 else 1, t))
                channels = c
        layers.append(conv_bn_relu6(channels, self.last_channel, 1))
        self.features = nn.Sequential(*layers)
        self.num_features = self.last_channel
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.last_channel, num_classes))
        for m in self.modules():        # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x):
        """(N, 3, H, W) -> (N, 1280): the pooled features the classifier reads."""
        return F.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1)

    def forward(self, x):
        return self.classifier(self.forward_features(x))


def mobilenet_v2(num_classes: int = 1000) -> MobileNetV2:
    """MobileNet-V2 at width 1.0 (torchvision's): 3,504,872 parameters for 1000 classes."""
    return MobileNetV2(num_classes)
