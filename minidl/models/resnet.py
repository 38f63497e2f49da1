"""ImageNet ResNets (He et al. 2016) with torchvision's layout and parameter names.

    conv1 7x7/2 3->64, bn1, ReLU, maxpool 3x3/2       (N, 3, 224, 224) -> (N, 64, 56, 56)
    layer1..layer4: blocks at 64, 128, 256, 512 planes, the first block of layer2-4 stride 2
                                                      -> (N, 512 * expansion, 7, 7)
    avgpool (global), fc -> num_classes               -> (N, num_classes)

BasicBlock (ResNet-18/34): two 3x3 convolutions. Bottleneck (ResNet-50): 1x1 reduce, 3x3 (which
carries the stride, as torchvision's "v1.5"), 1x1 expand by 4. Where the shape changes the
shortcut is a projection, ``downsample`` = Sequential(1x1 conv with the stride, BatchNorm), so
its parameters are ``downsample.0.weight`` and ``downsample.1.*``, as in published checkpoints.
Any input of at least 32x32 works (global pooling); 224x224 is what the weights were trained on.
"""
from __future__ import annotations

from .. import functional as F
from .. import nn

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50"]


def _conv(in_planes, out_planes, kernel_size, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size, stride=stride, padding=kernel_size // 2,
                     bias=False)


class BasicBlock(nn.Module):
    """(N, in_planes, H, W) -> (N, planes, H/stride, W/stride): two 3x3 convs plus the shortcut."""
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = _conv(in_planes, planes, 3, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv(planes, planes, 3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):              # each ReLU taken into the pass before it (nn.conv_bn)
        identity = x if self.downsample is None else self.downsample(x)
        out = nn.conv_bn(self.conv1, self.bn1, x, relu=True)
        return nn.conv_bn(self.conv2, self.bn2, out, relu=True, residual=identity)


class Bottleneck(nn.Module):
    """(N, in_planes, H, W) -> (N, 4 planes, H/stride, W/stride): 1x1, 3x3 (stride), 1x1, plus
    the shortcut."""
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = _conv(in_planes, planes, 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv(planes, planes, 3, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv(planes, planes * self.expansion, 1)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.downsample = downsample

    def forward(self, x):              # each ReLU taken into the pass before it (nn.conv_bn)
        identity = x if self.downsample is None else self.downsample(x)
        out = nn.conv_bn(self.conv1, self.bn1, x, relu=True)
        out = nn.conv_bn(self.conv2, self.bn2, out, relu=True)
        return nn.conv_bn(self.conv3, self.bn3, out, relu=True, residual=identity)


class ResNet(nn.Module):
    """(N, 3, H, W) -> (N, num_classes). Children: conv1, bn1, relu, maxpool, layer1-4, avgpool,
    fc; ``stages`` names the groups that freezing works on."""

    stages = {"stem": ("conv1", "bn1"), "layer1": ("layer1",), "layer2": ("layer2",),
              "layer3": ("layer3",), "layer4": ("layer4",), "fc": ("fc",)}

    def __init__(self, block, layers, num_classes: int = 1000):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._stage(block, 64, layers[0], stride=1)
        self.layer2 = self._stage(block, 128, layers[1], stride=2)
        self.layer3 = self._stage(block, 256, layers[2], stride=2)
        self.layer4 = self._stage(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = 512 * block.expansion
        self.fc = nn.Linear(self.num_features, num_classes)
        for m in self.modules():      # torchvision's initialisation of the convolutions
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _stage(self, block, planes, num_blocks, stride):
        downsample = None
        if stride != 1 or self.in_planes != planes * block.expansion:
            downsample = nn.Sequential(_conv(self.in_planes, planes * block.expansion, 1, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        blocks = [block(self.in_planes, planes, stride, downsample)]
        self.in_planes = planes * block.expansion
        blocks += [block(self.in_planes, planes) for _ in range(num_blocks - 1)]
        return nn.Sequential(*blocks)

    def stage(self, name: str) -> list[nn.Module]:
        """The modules of one stage ('stem', 'layer1'..'layer4' or 'fc')."""
        if name not in self.stages:
            raise KeyError(f"ResNet.stage: unknown stage {name!r}; stages are {list(self.stages)}")
        return [getattr(self, attr) for attr in self.stages[name]]

    def forward_features(self, x):
        """(N, 3, H, W) -> (N, 512 * expansion): the pooled features the fc head reads."""
        out = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return F.flatten(self.avgpool(out), 1)

    def forward(self, x):
        return self.fc(self.forward_features(x))


def resnet18(num_classes: int = 1000) -> ResNet:
    """ResNet-18: BasicBlocks (2, 2, 2, 2)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes)


def resnet34(num_classes: int = 1000) -> ResNet:
    """ResNet-34: BasicBlocks (3, 4, 6, 3)."""
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    """ResNet-50: Bottlenecks (3, 4, 6, 3)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes)
