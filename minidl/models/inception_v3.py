"""Inception-v3 (Szegedy et al. 2016) with torchvision's layout and parameter names.

    Conv2d_1a..4a (3x3/2, 3x3, 3x3, maxpool, 1x1, 3x3, maxpool)  (N, 3, 299, 299) -> (N, 192, 35, 35)
    Mixed_5b, 5c, 5d (InceptionA)                                 -> (N, 288, 35, 35)
    Mixed_6a (InceptionB, grid reduction)                         -> (N, 768, 17, 17)
    Mixed_6b..6e (InceptionC: 7x7 factorised into 1x7 and 7x1)    -> (N, 768, 17, 17)
    Mixed_7a (InceptionD, grid reduction)                         -> (N, 1280, 8, 8)
    Mixed_7b, 7c (InceptionE: 3x3 split into 1x3 | 3x1)           -> (N, 2048, 8, 8)
    avgpool (global), dropout 0.5, fc                             -> (N, num_classes)

Every convolution is googlenet.BasicConv2d (conv without bias, BatchNorm eps 1e-3, ReLU).
``aux_logits=True`` (torchvision's default, and part of the published
inception_v3_google-0cc3c7bd.pth) adds AuxLogits after Mixed_6e; ``forward`` returns the main
logits, ``forward_aux`` (logits, aux) for a training loss. ``transform_input=True`` is what the
published weights expect (see googlenet.transform_input). Inputs of at least 75x75 work.
"""
from __future__ import annotations

from .. import functional as F
from .. import nn
from .googlenet import BasicConv2d, transform_input

__all__ = ["Inception3", "InceptionA", "InceptionAux3", "InceptionB", "InceptionC", "InceptionD",
           "InceptionE", "inception_v3"]


def _avg3(x):
    return F.avg_pool2d(x, 3, stride=1, padding=1)


class InceptionA(nn.Module):
    """(N, C, H, W) -> (N, 224 + pool_features, H, W): 1x1 | 1x1, 5x5 | 1x1, 3x3, 3x3 | avg, 1x1."""

    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x):
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return F.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg3(x))], axis=1)


class InceptionB(nn.Module):
    """(N, C, H, W) -> (N, C + 480, (H-3)//2 + 1, ...): 3x3/2 | 1x1, 3x3, 3x3/2 | max-pool 3x3/2."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return F.cat([self.branch3x3(x), b3, F.max_pool2d(x, 3, stride=2)], axis=1)


class InceptionC(nn.Module):
    """(N, C, H, W) -> (N, 768, H, W): 1x1 | 1x1, 1x7, 7x1 | 1x1, (7x1, 1x7) twice | avg, 1x1."""

    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for i in range(1, 6):
            d = getattr(self, f"branch7x7dbl_{i}")(d)
        return F.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg3(x))], axis=1)


class InceptionD(nn.Module):
    """(N, C, H, W) -> (N, C + 512, (H-3)//2 + 1, ...): 1x1, 3x3/2 | 1x1, 1x7, 7x1, 3x3/2 | max-pool."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = x
        for i in range(1, 5):
            b7 = getattr(self, f"branch7x7x3_{i}")(b7)
        return F.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], axis=1)


class InceptionE(nn.Module):
    """(N, C, H, W) -> (N, 2048, H, W): 1x1 | 1x1, (1x3 | 3x1) | 1x1, 3x3, (1x3 | 3x1) | avg, 1x1."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        b3 = F.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], axis=1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = F.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], axis=1)
        return F.cat([self.branch1x1(x), b3, d, self.branch_pool(_avg3(x))], axis=1)


class InceptionAux3(nn.Module):
    """(N, 768, 17, 17) -> (N, num_classes): avg-pool 5x5/3, 1x1 to 128, 5x5 to 768, global
    average, fc (torchvision's inception.InceptionAux)."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.conv0 = BasicConv2d(in_channels, 128, 1)
        self.conv1 = BasicConv2d(128, 768, 5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x):
        x = self.conv1(self.conv0(F.avg_pool2d(x, 5, stride=3)))
        return self.fc(F.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Inception3(nn.Module):
    """(N, 3, H, W) -> (N, num_classes); children named as torchvision's Inception3."""

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True,
                 transform_input: bool = False, dropout: float = 0.5):
        super().__init__()
        self.aux_logits, self.transform_input = aux_logits, transform_input
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.maxpool1 = nn.MaxPool2d(3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.maxpool2 = nn.MaxPool2d(3, stride=2)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        if aux_logits:
            self.AuxLogits = InceptionAux3(768, num_classes)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.num_features = 2048
        self.fc = nn.Linear(2048, num_classes)

    _STEM = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
             "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a",
             "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e")

    def forward_aux(self, x):
        """(N, 3, H, W) -> (logits, aux), aux None without aux_logits or outside training."""
        return self._forward(x, self.aux_logits and self.training)

    def _forward(self, x, use_aux: bool):
        if self.transform_input:
            x = transform_input(x)
        for name in self._STEM:
            x = getattr(self, name)(x)
        aux = self.AuxLogits(x) if use_aux else None
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        x = F.flatten(self.dropout(self.avgpool(x)), 1)
        return self.fc(x), aux

    def forward(self, x):
        return self._forward(x, use_aux=False)[0]


def inception_v3(num_classes: int = 1000, aux_logits: bool = True,
                 transform_input: bool = False) -> Inception3:
    """Inception-v3, torchvision's defaults: 27,161,264 parameters with AuxLogits, 23,834,568
    without. Takes 299x299 images; load torchvision's weights with transform_input=True."""
    return Inception3(num_classes, aux_logits, transform_input)
