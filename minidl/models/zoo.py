"""The model zoo: architectures by name.

The published pretrained weights, and finding, reading and converting checkpoints, are
minidl.pretrained (a layer below this one).
"""
from __future__ import annotations

from .alexnet import alexnet
from .resnet import resnet18, resnet34, resnet50
from .resnet_cifar import resnet20, resnet32, resnet44, resnet56, resnet110
from .vgg import vgg16, vgg16_bn, vgg19, vgg19_bn

__all__ = ["ARCHITECTURES", "build_model"]

# name -> builder(num_classes); the default class count is each builder's own (10 or 1000)
ARCHITECTURES = {
    "resnet20": resnet20, "resnet32": resnet32, "resnet44": resnet44, "resnet56": resnet56,
    "resnet110": resnet110, "resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50,
    "alexnet": alexnet, "vgg16": vgg16, "vgg16_bn": vgg16_bn, "vgg19": vgg19, "vgg19_bn": vgg19_bn,
}


def build_model(arch: str, num_classes: int | None = None):
    """A freshly initialised model of architecture ``arch`` (a key of ARCHITECTURES)."""
    if arch not in ARCHITECTURES:
        raise KeyError(f"build_model: unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}")
    builder = ARCHITECTURES[arch]
    return builder() if num_classes is None else builder(num_classes=num_classes)
