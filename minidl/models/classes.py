"""Class names for a model's outputs: ImageNet's 1000 (for the zoo's ImageNet models),
CIFAR-10's (the CIFAR ResNets), Fashion-MNIST's (the lab CNN and the MLP), the digits'.

    class_names("densenet121", 1000)[207]     # 'golden retriever'

imagenet_classes.txt holds ImageNet-1k's names in class-index order, one a line, as torchvision
0.28 lists them for its weights' metadata (torchvision.models._meta._IMAGENET_CATEGORIES).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..data import DIGIT_CLASSES, FASHION_MNIST_CLASSES
from .resnet_cifar import CIFAR10_CLASSES
from .zoo import ARCHITECTURES

__all__ = ["class_names", "imagenet_classes"]

_IMAGENET_FILE = Path(__file__).with_name("imagenet_classes.txt")


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """ImageNet-1k's class names, index k naming output k (1000 of them)."""
    names = tuple(_IMAGENET_FILE.read_text(encoding="utf-8").splitlines())
    if len(names) != 1000:
        raise ValueError(f"{_IMAGENET_FILE}: expected 1000 class names, found {len(names)}")
    return names


def class_names(arch: str, num_classes: int) -> list[str]:
    """Names for the ``num_classes`` outputs of architecture ``arch`` when they are the ones
    its published weights or default dataset give, else 'class 0', 'class 1', ..."""
    spec = ARCHITECTURES.get(arch)
    if spec is not None and num_classes == 1000 and (spec.image_size or 0) >= 224:
        return list(imagenet_classes())
    if num_classes == 10:
        if arch.startswith("resnet") and spec is not None and spec.image_size == 32:
            return list(CIFAR10_CLASSES)
        if arch in ("lab6", "mlp"):
            return list(FASHION_MNIST_CLASSES)
        if arch == "digits-cnn":
            return list(DIGIT_CLASSES)
    return [f"class {k}" for k in range(num_classes)]
