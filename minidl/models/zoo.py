"""The model zoo: architectures by name, and where the published pretrained weights are.

``pretrained_path(name)`` finds a checkpoint file, first match wins:

1. ``$MINIDL_WEIGHTS/<file>`` when that variable is set;
2. ``<cache>/weights/<file>`` (``minidl.download.cache_dir()``: $MINIDL_CACHE or ~/.cache/minidl);
3. ``<repo>/../shared/pretrained/<file>``, the course machines' shared copy, where the source
   checkout sits beside it;
4. otherwise it downloads the file from its public URL into (2), with progress.

Every file is checked against its SHA-256 before use. ``load_pretrained(model, name)`` converts
the PyTorch checkpoint (minidl.transfer.convert) and loads it with strict=True.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

from .. import download as _download
from .alexnet import alexnet
from .resnet import resnet18, resnet34, resnet50
from .resnet_cifar import resnet20, resnet32, resnet44, resnet56, resnet110
from .vgg import vgg16, vgg16_bn, vgg19, vgg19_bn

__all__ = ["ARCHITECTURES", "PRETRAINED", "Pretrained", "build_model", "guess_arch",
           "load_pretrained", "pretrained_path", "search_dirs"]


class Pretrained(NamedTuple):
    """A published checkpoint: its file name, SHA-256, download URL and architecture."""
    file: str
    sha256: str
    url: str
    arch: str


# Yerlan Idelbayev's CIFAR-10 ResNets (BSD-2-Clause), see shared/pretrained/README.md
_CIFAR_URL = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"
PRETRAINED = {
    name: Pretrained(file, sha256, _CIFAR_URL + file, name)
    for name, file, sha256 in (
        ("resnet20", "resnet20-12fca82f.th",
         "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8"),
        ("resnet32", "resnet32-d509ac18.th",
         "d509ac1820d7f25398913559d7e81a13229b1e7adc5648e3bfa5e22dc137f850"),
        ("resnet44", "resnet44-014dd654.th",
         "014dd6541728a1c700b1642ab640e211dc6eb8ed507d70697458dc8f8a0ae2e4"),
        ("resnet56", "resnet56-4bfd9763.th",
         "4bfd97631478d6b638d2764fd2baff3edb1d7d82252d54439343b6596b9b5367"),
    )
}

# name -> builder(num_classes); the default class count is each builder's own (10 or 1000)
ARCHITECTURES = {
    "resnet20": resnet20, "resnet32": resnet32, "resnet44": resnet44, "resnet56": resnet56,
    "resnet110": resnet110, "resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50,
    "alexnet": alexnet, "vgg16": vgg16, "vgg16_bn": vgg16_bn, "vgg19": vgg19, "vgg19_bn": vgg19_bn,
}

_REPO_ROOT = Path(__file__).resolve().parents[2]


def build_model(arch: str, num_classes: int | None = None):
    """A freshly initialised model of architecture ``arch`` (a key of ARCHITECTURES)."""
    if arch not in ARCHITECTURES:
        raise KeyError(f"build_model: unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}")
    builder = ARCHITECTURES[arch]
    return builder() if num_classes is None else builder(num_classes=num_classes)


def search_dirs() -> list[Path]:
    """The folders pretrained_path looks in, in order (the shared one only if it exists)."""
    dirs = []
    if os.environ.get("MINIDL_WEIGHTS"):
        dirs.append(Path(os.environ["MINIDL_WEIGHTS"]).expanduser())
    dirs.append(_download.cache_dir() / "weights")
    shared = _REPO_ROOT.parent / "shared" / "pretrained"
    if shared.is_dir():
        dirs.append(shared)
    return dirs


def _entry(name: str) -> Pretrained:
    if name not in PRETRAINED:
        raise KeyError(f"unknown pretrained checkpoint {name!r}; known: {sorted(PRETRAINED)}")
    return PRETRAINED[name]


def pretrained_path(name: str, download: bool = True, progress: bool = True) -> Path:
    """The local path of checkpoint ``name`` (a key of PRETRAINED), downloading it into the
    cache if no search folder has it. A local copy with the wrong SHA-256 is an error (the
    cache's own copy is fetched again instead)."""
    entry = _entry(name)
    cache = _download.cache_dir() / "weights"
    for folder in search_dirs():
        path = folder / entry.file
        if not path.is_file():
            continue
        actual = _download.sha256_of(path)
        if actual == entry.sha256:
            return path
        if folder != cache:
            raise _download.ChecksumError(
                f"pretrained_path: {path} has SHA-256 {actual}, expected {entry.sha256} for "
                f"{name}; the file is damaged or a different one -- remove or replace it")
    if not download:
        raise FileNotFoundError(f"pretrained_path: {entry.file} ({name}) is not in any of "
                                f"{[str(d) for d in search_dirs()]} and download=False")
    return _download.download(entry.url, cache / entry.file, entry.sha256, progress=progress)


def guess_arch(path: str | os.PathLike) -> str | None:
    """The architecture of a checkpoint file: by SHA-256 if it is a known one, else by a name
    that starts with an architecture ('vgg16_bn-6c64b313.pth' -> 'vgg16_bn'); None if neither."""
    path = Path(path)
    if path.is_file():
        digest = _download.sha256_of(path)
        for entry in PRETRAINED.values():
            if entry.sha256 == digest:
                return entry.arch
    # the character after the name must not continue it: 'vgg16_bn...' is not 'vgg16'
    matches = [a for a in ARCHITECTURES if re.match(re.escape(a) + r"(?![a-z0-9_])", path.name.lower())]
    return matches[0] if matches else None


def load_pretrained(model, name: str, progress: bool = True):
    """Load checkpoint ``name`` into ``model`` (in place, strict) and return the model.

    Raises ValueError with the conversion report when the weights do not fit the model.
    """
    # transfer builds on models, so its converter is imported here rather than at the top
    from ..transfer.checkpoint import load_torch_state_dict
    from ..transfer.convert import convert_state_dict

    path = pretrained_path(name, progress=progress)
    state, report = convert_state_dict(load_torch_state_dict(path), model)
    if not report.ok:
        raise ValueError(f"load_pretrained: {name} ({path}) does not fit {type(model).__name__}:\n{report}")
    model.load_state_dict(state, strict=True)
    return model
