"""The published pretrained checkpoints: file name, SHA-256, download URL and architecture.

PRETRAINED: the CIFAR-10 ResNets, known by their full SHA-256 and size and downloaded when no
copy is on disk. TORCHVISION: torchvision's ImageNet checkpoints of the zoo's architectures
(its IMAGENET1K_V1 weights), known only by the SHA-256 prefix in their names (what torch.hub
checks) and 13-550 MB each: found on disk (MINIDL_WEIGHTS first, original or converted), never
downloaded by minidl -- the message says where to download them from.
"""
from __future__ import annotations

from typing import NamedTuple

__all__ = ["PRETRAINED", "Pretrained", "TORCHVISION", "entry", "has_weights"]


class Pretrained(NamedTuple):
    """A published checkpoint: its file name, SHA-256 (or, for TORCHVISION, its first 8 hex
    digits), download URL, architecture and size in bytes (a download stops as soon as it goes
    past it; None where unknown)."""
    file: str
    sha256: str
    url: str
    arch: str
    size: int


# Yerlan Idelbayev's CIFAR-10 ResNets (BSD-2-Clause), see shared/pretrained/README.md
_CIFAR_URL = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"
PRETRAINED = {
    name: Pretrained(file, sha256, _CIFAR_URL + file, name, size)
    for name, file, sha256, size in (
        ("resnet20", "resnet20-12fca82f.th",
         "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8", 1099231),
        ("resnet32", "resnet32-d509ac18.th",
         "d509ac1820d7f25398913559d7e81a13229b1e7adc5648e3bfa5e22dc137f850", 1890043),
        ("resnet44", "resnet44-014dd654.th",
         "014dd6541728a1c700b1642ab640e211dc6eb8ed507d70697458dc8f8a0ae2e4", 2680855),
        ("resnet56", "resnet56-4bfd9763.th",
         "4bfd97631478d6b638d2764fd2baff3edb1d7d82252d54439343b6596b9b5367", 3471733),
    )
}


# torchvision's published ImageNet weights (BSD-3-Clause), file names as in torchvision 0.28
_TORCHVISION_URL = "https://download.pytorch.org/models/"
TORCHVISION = {
    arch: Pretrained(file, file.rsplit("-", 1)[1].split(".")[0], _TORCHVISION_URL + file, arch, None)
    for arch, file in (
        ("resnet18", "resnet18-f37072fd.pth"), ("resnet34", "resnet34-b627a593.pth"),
        ("resnet50", "resnet50-0676ba61.pth"), ("alexnet", "alexnet-owt-7be5be79.pth"),
        ("vgg16", "vgg16-397923af.pth"), ("vgg16_bn", "vgg16_bn-6c64b313.pth"),
        ("vgg19", "vgg19-dcbb9e9d.pth"), ("vgg19_bn", "vgg19_bn-c79401a0.pth"),
        ("googlenet", "googlenet-1378be20.pth"), ("inception_v3", "inception_v3_google-0cc3c7bd.pth"),
        ("mobilenet_v2", "mobilenet_v2-b0353104.pth"), ("densenet121", "densenet121-a639ec97.pth"),
    )
}


def has_weights(name: str) -> bool:
    """Whether minidl knows published weights called ``name`` (PRETRAINED or TORCHVISION)."""
    return name in PRETRAINED or name in TORCHVISION


def entry(name: str) -> Pretrained:
    """The published checkpoint ``name`` (a key of PRETRAINED or TORCHVISION); KeyError lists
    the known ones."""
    if name in PRETRAINED:
        return PRETRAINED[name]
    if name in TORCHVISION:
        return TORCHVISION[name]
    raise KeyError(f"unknown pretrained checkpoint {name!r}; known: {sorted(PRETRAINED)} and "
                   f"torchvision's {sorted(TORCHVISION)}")
