"""ResNets for CIFAR-10 (He et al. 2016, section 4.2): depth 6n + 2, three stages of n blocks.

The layout and every parameter name follow Yerlan Idelbayev's pytorch_resnet_cifar10, whose
published weights (see minidl.pretrained) therefore load 1:1 once their 'module.' prefix is gone:

    conv1 3x3 3->16, bn1, ReLU                              (N, 3, 32, 32) -> (N, 16, 32, 32)
    layer1: n BasicBlocks, 16 channels                      -> (N, 16, 32, 32)
    layer2: n BasicBlocks, 32 channels, the first stride 2  -> (N, 32, 16, 16)
    layer3: n BasicBlocks, 64 channels, the first stride 2  -> (N, 64, 8, 8)
    pool (global average), linear 64 -> num_classes         -> (N, num_classes)

Where a block halves the map and doubles the channels its shortcut is "option A": no parameters,
keep every second pixel and zero-pad the new channels. Inputs are RGB in [0, 1] normalised with
CIFAR10_MEAN / CIFAR10_STD (use :func:`normalize`).
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import nn
from ..pretrained import load_pretrained
from ..tensor import ShapeError

__all__ = ["CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD", "BasicBlock", "CifarResNet",
           "LambdaShortcut", "normalize", "resnet_cifar", "resnet20", "resnet32", "resnet44",
           "resnet56", "resnet110"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
# The published weights were trained with ImageNet's channel statistics, not CIFAR-10's own.
CIFAR10_MEAN = (0.485, 0.456, 0.406)
CIFAR10_STD = (0.229, 0.224, 0.225)

DEPTHS = (20, 32, 44, 56, 110)


def normalize(images) -> np.ndarray:
    """RGB images in [0, 1] (uint8 taken as /255), (H, W, 3) or (N, H, W, 3) ->
    (N, 3, H, W) float32 standardised per channel with CIFAR10_MEAN and CIFAR10_STD."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ShapeError("normalize", "RGB images (H, W, 3) or (N, H, W, 3)", x.shape)
    x = x.astype(np.float32) / 255 if x.dtype == np.uint8 else x.astype(np.float32)
    x = (x - np.float32(CIFAR10_MEAN)) / np.float32(CIFAR10_STD)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


class LambdaShortcut(nn.Module):
    """Option-A shortcut, no parameters: (N, C, H, W) -> (N, C + 2 pad, ceil(H/2), ceil(W/2)).

    Keeps every second pixel and adds ``pad`` all-zero channels on each side. Built from
    slicing and F.pad, so the gradient flows back to the kept pixels (zero elsewhere).
    """

    def __init__(self, pad: int):
        super().__init__()
        self.pad = pad

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], ((0, 0), (self.pad, self.pad), (0, 0), (0, 0)))

    def extra_repr(self) -> str:
        return f"stride=2, pad_channels={self.pad}"


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), each ReLU taken into the pass before
    it and, in evaluation, each batch norm, the add and the ReLU into the convolution before them
    (``nn.conv_bn``).
    (N, in_planes, H, W) -> (N, planes, H/stride, W/stride)."""
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride != 1 or in_planes != planes:
            if stride != 2 or planes != 2 * in_planes:
                raise ValueError(f"BasicBlock: the option-A shortcut halves the map and doubles the "
                                 f"channels; got stride {stride}, {in_planes} -> {planes} channels")
            self.shortcut = LambdaShortcut(planes // 4)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = nn.conv_bn(self.conv1, self.bn1, x, relu=True)      # relu(bn1(conv1(x)))
        return nn.conv_bn(self.conv2, self.bn2, out, relu=True, residual=self.shortcut(x))


class CifarResNet(nn.Module):
    """(N, 3, 32, 32) -> (N, num_classes) logits. Children in order: conv1, bn1, layer1, layer2,
    layer3, pool, linear; ``stages`` names the groups that freezing works on."""

    # stage name -> the attributes it holds, input side first
    stages = {"stem": ("conv1", "bn1"), "layer1": ("layer1",), "layer2": ("layer2",),
              "layer3": ("layer3",), "linear": ("linear",)}

    def __init__(self, num_blocks: int, num_classes: int = 10):
        super().__init__()
        self.depth = 6 * num_blocks + 2
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._stage(16, 16, num_blocks, stride=1)
        self.layer2 = self._stage(16, 32, num_blocks, stride=2)
        self.layer3 = self._stage(32, 64, num_blocks, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(64, num_classes)
        self.num_features = 64
        for m in self.modules():      # the original's initialisation: He-normal weights
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    @staticmethod
    def _stage(in_planes, planes, num_blocks, stride):
        blocks = [BasicBlock(in_planes, planes, stride)]
        blocks += [BasicBlock(planes, planes) for _ in range(num_blocks - 1)]
        return nn.Sequential(*blocks)

    def stage(self, name: str) -> list[nn.Module]:
        """The modules of one stage ('stem', 'layer1', 'layer2', 'layer3' or 'linear')."""
        if name not in self.stages:
            raise KeyError(f"CifarResNet.stage: unknown stage {name!r}; stages are {list(self.stages)}")
        return [getattr(self, attr) for attr in self.stages[name]]

    def forward_features(self, x):
        """(N, 3, H, W) -> (N, 64): the pooled features the linear head reads."""
        out = nn.conv_bn(self.conv1, self.bn1, x, relu=True)
        out = self.layer3(self.layer2(self.layer1(out)))
        return F.flatten(self.pool(out), 1)

    def forward(self, x):
        return self.linear(self.forward_features(x))

    def extra_repr(self) -> str:
        return f"depth={self.depth}"


def resnet_cifar(depth: int = 20, num_classes: int = 10, pretrained: bool = False) -> CifarResNet:
    """A CIFAR ResNet of depth 20, 32, 44, 56 or 110 (n = (depth - 2) / 6 blocks per stage).

    pretrained=True loads the published CIFAR-10 weights (depths 20-56; they need
    num_classes=10 -- replace ``model.linear`` afterwards for another task) and returns the
    model in eval() mode, ready to predict with the checkpoint's BatchNorm statistics.
    """
    if depth not in DEPTHS:
        raise ValueError(f"resnet_cifar: depth must be one of {DEPTHS}, got {depth!r}")
    model = CifarResNet((depth - 2) // 6, num_classes)
    if pretrained:
        if num_classes != 10:
            raise ValueError(f"resnet_cifar: the pretrained weights have a 10-class head; build with "
                             f"num_classes=10 and replace model.linear (got num_classes={num_classes})")
        load_pretrained(model, f"resnet{depth}")
        model.eval()
    return model


def resnet20(num_classes=10, pretrained=False):
    """ResNet-20 for 32x32 RGB images: (N, 3, 32, 32) -> (N, num_classes), 0.27M parameters.

    pretrained=True loads the published CIFAR-10 weights (found on disk, MINIDL_WEIGHTS first,
    or downloaded). Weights converted by ``python -m minidl convert`` load like any state dict:

        import minidl
        from minidl.models import CIFAR10_CLASSES, normalize, resnet20

        model = resnet20()
        model.load_state_dict(minidl.load("resnet20.npz"))     # strict: every key and shape
        model.eval()
        with minidl.no_grad():
            logits = model(minidl.Tensor(normalize(images)))  # images (N, 32, 32, 3) in [0, 1]
        print([CIFAR10_CLASSES[k] for k in logits.data.argmax(1)])
    """
    return resnet_cifar(20, num_classes, pretrained)


def resnet32(num_classes=10, pretrained=False): return resnet_cifar(32, num_classes, pretrained)
def resnet44(num_classes=10, pretrained=False): return resnet_cifar(44, num_classes, pretrained)
def resnet56(num_classes=10, pretrained=False): return resnet_cifar(56, num_classes, pretrained)
def resnet110(num_classes=10, pretrained=False): return resnet_cifar(110, num_classes, pretrained)
