"""The published pretrained checkpoints: file name, SHA-256, download URL and architecture."""
from __future__ import annotations

from typing import NamedTuple

__all__ = ["PRETRAINED", "Pretrained", "entry"]


class Pretrained(NamedTuple):
    """A published checkpoint: its file name, SHA-256, download URL, architecture and size in
    bytes (a download stops as soon as it goes past it)."""
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


def entry(name: str) -> Pretrained:
    """The published checkpoint ``name`` (a key of PRETRAINED); KeyError lists the known ones."""
    if name not in PRETRAINED:
        raise KeyError(f"unknown pretrained checkpoint {name!r}; known: {sorted(PRETRAINED)}")
    return PRETRAINED[name]
