"""The Lab 6 CNN for Fashion-MNIST, and a smaller sibling for scikit-learn's 8x8 digits.

lab6_cnn, exactly as the lab designs it (5x5 kernels, stride 1, padding 2; 2x2 max pools):

    input      (N,  1, 28, 28)
    features.0 Conv2d(1, 16, 5, padding=2)   (N, 16, 28, 28)   W_out = (28 - 5 + 2*2)/1 + 1 = 28
    features.1 BatchNorm2d(16)               (N, 16, 28, 28)
    features.2 ReLU                          (N, 16, 28, 28)
    features.3 MaxPool2d(2)                  (N, 16, 14, 14)   W_out = (28 - 2)/2 + 1 = 14
    features.4 Conv2d(16, 32, 5, padding=2)  (N, 32, 14, 14)
    features.5 BatchNorm2d(32)               (N, 32, 14, 14)
    features.6 ReLU                          (N, 32, 14, 14)
    features.7 MaxPool2d(2)                  (N, 32,  7,  7)
    flatten                                  (N, 1568)         7 * 7 * 32
    classifier Linear(1568, 10)              (N, 10)           class scores (logits)
"""
from __future__ import annotations

from .. import nn


class ConvNet(nn.Module):
    """A CNN in two named parts: ``features`` (conv blocks) then ``classifier`` (a head on the
    flattened features). (N, C, H, W) -> (N, num_classes) logits."""

    def __init__(self, features: nn.Module, classifier: nn.Module):
        super().__init__()
        self.features = features
        self.flatten = nn.Flatten()
        self.classifier = classifier

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))


def _conv_block(in_channels: int, out_channels: int, kernel_size: int) -> list[nn.Module]:
    """Conv (same padding) -> BatchNorm -> ReLU -> 2x2 max pool: halves H and W."""
    return [nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.BatchNorm2d(out_channels), nn.ReLU(), nn.MaxPool2d(2)]


def lab6_cnn(num_classes: int = 10, in_channels: int = 1) -> ConvNet:
    """The lab's CNN: (N, in_channels, 28, 28) -> (N, num_classes). 28 -> 28 -> 14 -> 14 -> 7."""
    features = nn.Sequential(*_conv_block(in_channels, 16, 5), *_conv_block(16, 32, 5))
    return ConvNet(features, nn.Linear(7 * 7 * 32, num_classes))


def digits_cnn(num_classes: int = 10, in_channels: int = 1) -> ConvNet:
    """A small CNN for 8x8 digits: (N, in_channels, 8, 8) -> (N, num_classes).

    Two 3x3 conv blocks (16 and 32 filters): 8 -> 8 -> 4 -> 4 -> 2, then Linear(2*2*32, classes).
    """
    features = nn.Sequential(*_conv_block(in_channels, 16, 3), *_conv_block(16, 32, 3))
    return ConvNet(features, nn.Linear(2 * 2 * 32, num_classes))
