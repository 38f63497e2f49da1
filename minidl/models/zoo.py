"""The model zoo: architectures by name.

The published pretrained weights, and finding, reading and converting checkpoints, are
minidl.pretrained (a layer below this one).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

from .. import nn
from .alexnet import alexnet
from .densenet import densenet121
from .googlenet import googlenet
from .inception_v3 import inception_v3
from .lab6 import digits_cnn, lab6_cnn
from .mlp import mlp
from .mobilenet_v2 import mobilenet_v2
from .resnet import resnet18, resnet34, resnet50
from .resnet_cifar import resnet20, resnet32, resnet44, resnet56, resnet110
from .vgg import vgg16, vgg16_bn, vgg19, vgg19_bn

__all__ = ["ARCHITECTURES", "Architecture", "build_model"]


class Architecture(NamedTuple):
    """One named architecture: build(num_classes, in_channels, image_size) -> Module, its
    default class count, and the input it takes: the channels and the side length its design
    fixes, or None where the builder adapts to the data (the lab's CNNs take any channel count,
    the MLP any image)."""
    build: Callable[[int, int, int], nn.Module]
    num_classes: int
    in_channels: int | None
    image_size: int | None


def _classes_only(builder) -> Callable[[int, int, int], nn.Module]:
    return lambda num_classes, in_channels, image_size: builder(num_classes=num_classes)


# name -> Architecture; the training CLI (python -m minidl train NAME) and the checkpoint
# converter look names up here
ARCHITECTURES = {
    "lab6": Architecture(lambda k, c, size: lab6_cnn(k, c), 10, None, 28),
    "digits-cnn": Architecture(lambda k, c, size: digits_cnn(k, c), 10, None, 8),
    "mlp": Architecture(lambda k, c, size: mlp(c * size * size, (256,), k), 10, None, None),
    **{name: Architecture(_classes_only(builder), 10, 3, 32) for name, builder in (
        ("resnet20", resnet20), ("resnet32", resnet32), ("resnet44", resnet44),
        ("resnet56", resnet56), ("resnet110", resnet110))},
    **{name: Architecture(_classes_only(builder), 1000, 3, 224) for name, builder in (
        ("resnet18", resnet18), ("resnet34", resnet34), ("resnet50", resnet50),
        ("alexnet", alexnet), ("vgg16", vgg16), ("vgg16_bn", vgg16_bn), ("vgg19", vgg19),
        ("vgg19_bn", vgg19_bn), ("googlenet", googlenet), ("mobilenet_v2", mobilenet_v2),
        ("densenet121", densenet121))},
    "inception_v3": Architecture(_classes_only(inception_v3), 1000, 3, 299),
}

# The input assumed where an architecture leaves it open and none is given: Fashion-MNIST's
DEFAULT_CHANNELS, DEFAULT_IMAGE_SIZE = 1, 28


def build_model(arch: str, num_classes: int | None = None, in_channels: int | None = None,
                image_size: int | None = None) -> nn.Module:
    """A freshly initialised model of architecture ``arch`` (a key of ARCHITECTURES) for
    images (in_channels, image_size, image_size). Left out: the architecture's own class count
    and input (1x28x28 where it has none); given, they must fit the input it fixes."""
    if arch not in ARCHITECTURES:
        raise KeyError(f"build_model: unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}")
    spec = ARCHITECTURES[arch]
    for what, given, fixed in (("{}-channel", in_channels, spec.in_channels),
                               ("{0}x{0}", image_size, spec.image_size)):
        if given is not None and fixed is not None and given != fixed:
            raise ValueError(f"build_model: {arch} takes {what.format(fixed)} images, got "
                             f"{what.format(given)}; adapt the images first (e.g. "
                             f"minidl.data.GrayToRGB, Resize, PadTo)")
    channels = in_channels or spec.in_channels or DEFAULT_CHANNELS
    size = image_size or spec.image_size or DEFAULT_IMAGE_SIZE
    return spec.build(spec.num_classes if num_classes is None else num_classes, channels, size)
