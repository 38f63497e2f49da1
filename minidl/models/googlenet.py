"""GoogLeNet (Inception-v1, Szegedy et al. 2015) with torchvision's layout and parameter names.

    conv1 7x7/2 3->64, maxpool1 3x3/2 (ceil)     (N, 3, 224, 224) -> (N, 64, 56, 56)
    conv2 1x1 64->64, conv3 3x3 64->192, maxpool2 -> (N, 192, 28, 28)
    inception3a, 3b, maxpool3                    -> (N, 480, 14, 14)
    inception4a..4e, maxpool4 2x2/2 (ceil)       -> (N, 832, 7, 7)
    inception5a, 5b                              -> (N, 1024, 7, 7)
    avgpool (global), dropout 0.2, fc            -> (N, num_classes)

Every convolution is a BasicConv2d: conv (no bias), BatchNorm (eps 1e-3), ReLU -- torchvision's
"GoogLeNet with batch norm", whose published weights (googlenet-1378be20.pth) load here
strictly. As in torchvision, the "5x5" branch uses a 3x3 convolution. ``aux_logits=True`` adds
the two auxiliary classifiers (aux1 after 4a, aux2 after 4d; torchvision's default, and part of
the published file): ``forward`` always returns the main logits, ``forward_aux`` returns
(logits, aux2, aux1) for a training loss. ``transform_input=True`` (what the published weights
expect) maps an input normalised with ImageNet's mean/std to the (x - 0.5) / 0.5 scaling they
were trained on. Any input of at least 15x15 works; 224x224 is the design's.
"""
from __future__ import annotations

from .. import functional as F
from .. import nn

__all__ = ["BasicConv2d", "GoogLeNet", "Inception", "InceptionAux", "googlenet", "transform_input"]

_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def transform_input(x):
    """(N, 3, H, W) normalised with ImageNet's mean/std -> the same images scaled as
    (x01 - 0.5) / 0.5 per channel (torchvision's ``transform_input`` of GoogLeNet/Inception-v3)."""
    channels = [x[:, c:c + 1] * (std / 0.5) + (mean - 0.5) / 0.5
                for c, (mean, std) in enumerate(zip(_IMAGENET_MEAN, _IMAGENET_STD))]
    return F.cat(channels, axis=1)


class BasicConv2d(nn.Module):
    """(N, in_channels, H, W) -> (N, out_channels, OH, OW): conv (no bias), BN (eps 1e-3), ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """(N, in_channels, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W): four branches
    (1x1 | 1x1, 3x3 | 1x1, 3x3 | 3x3 max-pool, 1x1) concatenated along the channels."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, 1),
                                     BasicConv2d(ch3x3red, ch3x3, 3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, 1),
                                     BasicConv2d(ch5x5red, ch5x5, 3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(in_channels, pool_proj, 1))

    def forward(self, x):
        return F.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], axis=1)


class InceptionAux(nn.Module):
    """(N, in_channels, H, W) -> (N, num_classes): 4x4 adaptive average pool, 1x1 conv to 128,
    fc1 2048->1024, ReLU, dropout, fc2."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7):
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, 1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = F.flatten(self.conv(F.adaptive_avg_pool2d(x, (4, 4))), 1)
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """(N, 3, H, W) -> (N, num_classes); children named as torchvision's GoogLeNet."""

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True,
                 transform_input: bool = False, dropout: float = 0.2, dropout_aux: float = 0.7):
        super().__init__()
        self.aux_logits, self.transform_input = aux_logits, transform_input
        self.conv1 = BasicConv2d(3, 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, 1)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, dropout_aux)
            self.aux2 = InceptionAux(528, num_classes, dropout_aux)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.num_features = 1024
        self.fc = nn.Linear(1024, num_classes)

    def forward_aux(self, x):
        """(N, 3, H, W) -> (logits, aux2, aux1), the auxiliary logits None without aux_logits
        or outside training mode (torchvision's GoogLeNetOutputs order)."""
        return self._forward(x, self.aux_logits and self.training)

    def _forward(self, x, use_aux: bool):
        if self.transform_input:
            x = transform_input(x)
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if use_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if use_aux else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = F.flatten(self.avgpool(x), 1)
        return self.fc(self.dropout(x)), aux2, aux1

    def forward(self, x):
        return self._forward(x, use_aux=False)[0]


def googlenet(num_classes: int = 1000, aux_logits: bool = True,
              transform_input: bool = False) -> GoogLeNet:
    """GoogLeNet, torchvision's defaults: 13,004,888 parameters with the auxiliary heads,
    6,624,904 without (aux_logits=False). Load torchvision's weights with transform_input=True."""
    return GoogLeNet(num_classes, aux_logits, transform_input)
