"""``python -m minidl classify MODEL IMAGE [--weights FILE] [--top 5]``: classify one image.

The image (any format Pillow reads) is made RGB, resized to the architecture's input side
(32 for the CIFAR ResNets, 224 for the ImageNet models, 299 for Inception-v3), normalised with
ImageNet's mean/std (minidl.models.normalize) and passed through the model in eval mode.
Weights: --weights (a .npz or .safetensors from ``convert`` or ``train``), else the published
ones where minidl has them (the CIFAR ResNets: found on disk, MINIDL_WEIGHTS first, or
downloaded). Prints the top-k classes with their probabilities; class names are CIFAR-10's for
a 10-class CIFAR ResNet, else "class k". Exit status 0, or 2 with a one-paragraph message.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import minidl
from minidl import functional as F
from minidl.models import CIFAR10_CLASSES, normalize
from minidl.models.zoo import ARCHITECTURES, build_model
from minidl.pretrained import PRETRAINED, WeightsNotFoundError, load_pretrained

from .numbers import positive_int

MODELS = sorted(name for name, arch in ARCHITECTURES.items() if arch.in_channels == 3)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", choices=MODELS, help="an RGB architecture of the zoo")
    parser.add_argument("image", type=Path, help="the image file (PNG, JPEG, ...)")
    parser.add_argument("--weights", type=Path, default=None,
                        help=".npz or .safetensors weights (default: the published ones, if any)")
    parser.add_argument("--num-classes", type=positive_int, default=None,
                        help="classes of the weights' head (default: the architecture's own)")
    parser.add_argument("--top", type=positive_int, default=5, help="how many classes to print")


def load_image(path: Path, side: int) -> np.ndarray:
    """(side, side, 3) float32 RGB in [0, 1]; OSError/ValueError for an unreadable file."""
    from PIL import Image
    with Image.open(path) as image:
        image = image.convert("RGB").resize((side, side), Image.BILINEAR)
        return np.asarray(image, dtype=np.float32) / 255


def model_with_weights(arch: str, weights: Path | None, num_classes: int | None):
    model = build_model(arch, num_classes)
    if weights is not None:
        model.load_state_dict(minidl.load(weights))
    elif arch in PRETRAINED:
        load_pretrained(model, arch, progress=False)
    else:
        raise FileNotFoundError(f"{arch} has no published weights in minidl; pass --weights FILE "
                                f"(e.g. converted from torchvision's with 'python -m minidl convert')")
    return model.eval()


def class_names(arch: str, num_classes: int) -> list[str]:
    if arch.startswith("resnet") and ARCHITECTURES[arch].image_size == 32 and num_classes == 10:
        return list(CIFAR10_CLASSES)
    return [f"class {k}" for k in range(num_classes)]


def run(args: argparse.Namespace) -> int:
    side = ARCHITECTURES[args.model].image_size
    try:
        image = load_image(args.image, side)
        model = model_with_weights(args.model, args.weights, args.num_classes)
    except WeightsNotFoundError as err:
        print(f"classify: {err}", file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError, ImportError) as err:   # unreadable image or weights
        print(f"classify: {err}", file=sys.stderr)
        return 2
    with minidl.no_grad():
        probs = F.softmax(model(minidl.Tensor(normalize(image))), axis=1).data[0]
    names = class_names(args.model, probs.shape[0])
    print(f"{args.model} on {args.image} ({side}x{side}):")
    for k in np.argsort(-probs)[:args.top]:
        print(f"  {names[k]:<12} {probs[k]:7.2%}")
    return 0
