"""A plain CNN made of numbered layers, for transfer studies that copy "the first k layers"
(Yosinski et al., 2014, on 28x28 gray images such as Fashion-MNIST).

    layered_cnn(5)            # conv1..conv5 (3x3, padding 1) + global average pool + linear

    input  (N,  1, 28, 28)
    conv1  Conv(1, 16)  BN ReLU MaxPool2d(2)   (N, 16, 14, 14)
    conv2  Conv(16, 32) BN ReLU                (N, 32, 14, 14)
    conv3  Conv(32, 32) BN ReLU MaxPool2d(2)   (N, 32,  7,  7)
    conv4  Conv(32, 64) BN ReLU                (N, 64,  7,  7)
    conv5  Conv(64, 64) BN ReLU                (N, 64,  7,  7)
    pool   mean over positions                 (N, 64)
    linear Linear(64, num_classes)             (N, num_classes)

Every conv layer is one stage (its BatchNorm belongs to it), so minidl.transfer's
freeze(model, upto="conv3") and copy_weights(source, target, upto="conv3") act on the first
three layers; together with the head there are six trainable layers.
"""
from __future__ import annotations

from .. import nn

WIDTHS = (16, 32, 32, 64, 64)
POOL_AFTER = (1, 3)                      # the layers followed by a 2x2 max pool


class GlobalAvgPool(nn.Module):
    """(N, C, H, W) -> (N, C): the mean over positions."""

    def forward(self, x):
        return x.mean(axis=(2, 3))


class LayeredCNN(nn.Module):
    """conv1..convL (each Conv 3x3 + BN + ReLU, some followed by a max pool), a global
    average pool and a linear head. ``layers`` lists the conv stages' names, input first."""

    def __init__(self, widths=WIDTHS, num_classes: int = 10, in_channels: int = 1,
                 pool_after=POOL_AFTER):
        super().__init__()
        self.layers = []
        channels = in_channels
        for i, width in enumerate(widths, start=1):
            block = [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            if i in pool_after:
                block.append(nn.MaxPool2d(2))
            setattr(self, f"conv{i}", nn.Sequential(*block))
            self.layers.append(f"conv{i}")
            channels = width
        self.pool = GlobalAvgPool()
        self.linear = nn.Linear(channels, num_classes)

    def features(self, x):
        """The pooled output of the last conv layer, (N, widths[-1]): the head's input."""
        for name in self.layers:
            x = getattr(self, name)(x)
        return self.pool(x)

    def forward(self, x):
        return self.linear(self.features(x))


def layered_cnn(depth: int = 5, num_classes: int = 10, in_channels: int = 1) -> LayeredCNN:
    """The first ``depth`` (1..5) conv layers of the table above, then the pool and the head."""
    if not 1 <= depth <= len(WIDTHS):
        raise ValueError(f"layered_cnn: depth must be 1..{len(WIDTHS)}, got {depth!r}")
    return LayeredCNN(WIDTHS[:depth], num_classes, in_channels)
