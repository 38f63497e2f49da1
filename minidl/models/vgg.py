"""VGG-16 and VGG-19 (Simonyan & Zisserman 2015), with and without BatchNorm, torchvision's names.

    features: stacks of 3x3 convolutions (padding 1, ReLU; BatchNorm after each conv in the _bn
              variants), each stack closed by a 2x2 max-pool    (N, 3, 224, 224) -> (N, 512, 7, 7)
    avgpool: AdaptiveAvgPool2d((7, 7))                                          -> (N, 512, 7, 7)
    classifier: Linear 25088->4096, ReLU, Dropout, Linear 4096->4096, ReLU, Dropout,
                Linear 4096->num_classes                                        -> (N, num_classes)

Layers are numbered inside ``features`` and ``classifier`` exactly as in torchvision, so the
published ImageNet checkpoints convert (``features.0.weight``, ``classifier.6.bias``, ...).
At the 224x224 input the weights were trained on, the feature map is already 7x7 and avgpool is
the identity; other inputs of at least 32x32 are averaged to 7x7 with torchvision's adaptive
windows.
"""
from __future__ import annotations

from .. import functional as F
from .. import nn

__all__ = ["VGG", "make_features", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]

# numbers are conv output channels, "M" a 2x2 max-pool
CONFIGS = {
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"),
}


def make_features(config, batch_norm: bool = False) -> nn.Sequential:
    """The convolutional part: (N, 3, H, W) -> (N, 512, H/32, W/32)."""
    layers, channels = [], 3
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2, stride=2))
            continue
        layers.append(nn.Conv2d(channels, item, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU())
        channels = item
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """(N, 3, 224, 224) -> (N, num_classes). Children: features, avgpool, classifier."""

    stages = {"features": ("features",), "classifier": ("classifier",)}

    def __init__(self, features: nn.Sequential, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, num_classes))
        for m in self.modules():      # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def stage(self, name: str) -> list[nn.Module]:
        """The modules of one stage ('features' or 'classifier')."""
        if name not in self.stages:
            raise KeyError(f"VGG.stage: unknown stage {name!r}; stages are {list(self.stages)}")
        return [getattr(self, attr) for attr in self.stages[name]]

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


def vgg16(num_classes: int = 1000) -> VGG:
    """VGG-16 (configuration D): 13 convolutions and 3 fully connected layers."""
    return VGG(make_features(CONFIGS[16]), num_classes)


def vgg16_bn(num_classes: int = 1000) -> VGG:
    """VGG-16 with BatchNorm after every convolution."""
    return VGG(make_features(CONFIGS[16], batch_norm=True), num_classes)


def vgg19(num_classes: int = 1000) -> VGG:
    """VGG-19 (configuration E): 16 convolutions and 3 fully connected layers."""
    return VGG(make_features(CONFIGS[19]), num_classes)


def vgg19_bn(num_classes: int = 1000) -> VGG:
    """VGG-19 with BatchNorm after every convolution."""
    return VGG(make_features(CONFIGS[19], batch_norm=True), num_classes)
