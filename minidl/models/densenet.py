"""DenseNet-121 (Huang et al. 2017, DenseNet-BC) with torchvision's layout and parameter names.

    features.conv0 7x7/2 3->64, norm0, relu0, pool0 3x3/2   (N, 3, 224, 224) -> (N, 64, 56, 56)
    denseblock1 (6 layers), transition1                      -> (N, 128, 28, 28)
    denseblock2 (12 layers), transition2                     -> (N, 256, 14, 14)
    denseblock3 (24 layers), transition3                     -> (N, 512, 7, 7)
    denseblock4 (16 layers), norm5                           -> (N, 1024, 7, 7)
    ReLU, global average, classifier                         -> (N, num_classes)

In a dense block every layer reads the concatenation of the block's input and all earlier
layers' outputs, and adds growth_rate (32) new channels: BN, ReLU, 1x1 conv to bn_size *
growth_rate (128), BN, ReLU, 3x3 conv to growth_rate. A transition halves the channels (BN,
ReLU, 1x1 conv) and the map (2x2 average pool). Parameter names are torchvision's
(``features.denseblock1.denselayer1.norm1.weight``); its published densenet121-a639ec97.pth
still uses the old names (``...denselayer1.norm.1.weight``): :func:`rename_legacy_keys` maps
them, as torchvision does when loading.
"""
from __future__ import annotations

from collections import OrderedDict

from .. import functional as F
from .. import nn
from ..pretrained.convert import rename_legacy

__all__ = ["DenseBlock", "DenseLayer", "DenseNet", "densenet121", "rename_legacy_keys"]


def rename_legacy_keys(state: dict) -> OrderedDict:
    """A DenseNet state dict with the pre-0.4 names ('norm.1') renamed to torchvision's
    current ones ('norm1'); other keys unchanged, order kept. (Converting a checkpoint does
    this by itself: minidl.pretrained.convert's LEGACY_RENAMES.)"""
    return OrderedDict((rename_legacy(key), value) for key, value in state.items())


class DenseLayer(nn.Module):
    """(N, C, H, W) -> (N, growth_rate, H, W): BN, ReLU, 1x1 conv, BN, ReLU, 3x3 conv."""

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x):
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class DenseBlock(nn.Module):
    """(N, C, H, W) -> (N, C + num_layers * growth_rate, H, W); children denselayer1..K."""

    def __init__(self, num_layers: int, num_input_features: int, bn_size: int, growth_rate: int):
        super().__init__()
        for i in range(num_layers):
            setattr(self, f"denselayer{i + 1}",
                    DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size))

    def forward(self, x):
        features = [x]
        for layer in self.children():
            features.append(layer(F.cat(features, axis=1) if len(features) > 1 else x))
        return F.cat(features, axis=1)


def _transition(in_features: int, out_features: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict(norm=nn.BatchNorm2d(in_features), relu=nn.ReLU(),
                                     conv=nn.Conv2d(in_features, out_features, 1, bias=False),
                                     pool=nn.AvgPool2d(2, stride=2)))


class DenseNet(nn.Module):
    """(N, 3, H, W) -> (N, num_classes). Children: features (named stages), classifier."""

    def __init__(self, growth_rate: int = 32, block_config=(6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = 4, num_classes: int = 1000):
        super().__init__()
        stages = OrderedDict(
            conv0=nn.Conv2d(3, num_init_features, 7, stride=2, padding=3, bias=False),
            norm0=nn.BatchNorm2d(num_init_features), relu0=nn.ReLU(),
            pool0=nn.MaxPool2d(3, stride=2, padding=1))
        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            stages[f"denseblock{i + 1}"] = DenseBlock(num_layers, channels, bn_size, growth_rate)
            channels += num_layers * growth_rate
            if i != len(block_config) - 1:
                stages[f"transition{i + 1}"] = _transition(channels, channels // 2)
                channels //= 2
        stages["norm5"] = nn.BatchNorm2d(channels)
        self.features = nn.Sequential(stages)
        self.num_features = channels
        self.classifier = nn.Linear(channels, num_classes)
        for m in self.modules():        # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward_features(self, x):
        """(N, 3, H, W) -> (N, num_features): the pooled features the classifier reads."""
        return F.flatten(F.adaptive_avg_pool2d(F.relu(self.features(x)), 1), 1)

    def forward(self, x):
        return self.classifier(self.forward_features(x))


def densenet121(num_classes: int = 1000) -> DenseNet:
    """DenseNet-121: growth 32, blocks (6, 12, 24, 16), 7,978,856 parameters for 1000 classes."""
    return DenseNet(32, (6, 12, 24, 16), 64, 4, num_classes)
