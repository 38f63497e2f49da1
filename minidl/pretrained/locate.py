"""Finding a published checkpoint on disk, or downloading it, always checked by its SHA-256.

``pretrained_path(name)`` looks in these folders, first match wins:

1. ``$MINIDL_WEIGHTS/<file>`` when that variable is set;
2. ``<cache>/weights/<file>`` (``minidl.download.cache_dir()``: $MINIDL_CACHE or ~/.cache/minidl);
3. ``SHARED_DIR`` = ``<repo>/../shared/pretrained/``, the course machines' shared copy, where
   the source checkout sits beside it;
4. otherwise it downloads the file from its public URL into (2), with progress -- the
   CIFAR ResNets only; torchvision's ImageNet checkpoints (registry.TORCHVISION) must be on disk.

In each folder the original checkpoint (checked by SHA-256) comes first, then a copy converted
by ``python -m minidl convert``: ``<name>.npz``, ``<name>.safetensors``, or the original's name
with either suffix (``resnet20-12fca82f.npz``); those have no published hash to check, the
strict load checks their keys and shapes. Offline with none of them, WeightsNotFoundError says
where it looked, what to set and where to download from.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from .. import download as _download
from .registry import PRETRAINED, TORCHVISION, Pretrained, entry

__all__ = ["SHARED_DIR", "WeightsNotFoundError", "converted_names", "guess_arch", "known_name_mismatch",
           "pretrained_path", "search_dirs"]

SHARED_DIR = Path(__file__).resolve().parents[3] / "shared" / "pretrained"


class WeightsNotFoundError(_download.DownloadError, FileNotFoundError):
    """No copy of a published checkpoint on disk, and it could not (or may not) be downloaded."""


def converted_names(name: str) -> list[str]:
    """The file names a converted copy of checkpoint ``name`` may have, in the order tried."""
    stem = Path(entry(name).file).stem
    return [f"{base}{suffix}" for base in dict.fromkeys((name, stem)) for suffix in (".npz", ".safetensors")]


def _not_found(name: str, reason: str) -> WeightsNotFoundError:
    published = entry(name)
    folders = "\n".join(f"    {d}" for d in search_dirs())
    return WeightsNotFoundError(
        f"pretrained weights {name!r} not found ({reason}).\n"
        f"  looked in (for {published.file} or a converted {' / '.join(converted_names(name))}):\n"
        f"{folders}\n"
        f"  to fix: download {published.url}\n"
        f"  into a folder and set MINIDL_WEIGHTS=<that folder> (the converted .npz of "
        f"'python -m minidl convert' works there too), or put it in {_download.cache_dir() / 'weights'}")


def hash_matches(published: Pretrained, digest: str) -> bool:
    """Whether a file's SHA-256 is the published one (for TORCHVISION: begins with its prefix)."""
    return digest == published.sha256 if len(published.sha256) == 64 else digest.startswith(published.sha256)


def search_dirs() -> list[Path]:
    """The folders pretrained_path looks in, in order (the shared one only if it exists)."""
    dirs = []
    if os.environ.get("MINIDL_WEIGHTS"):
        dirs.append(Path(os.environ["MINIDL_WEIGHTS"]).expanduser())
    dirs.append(_download.cache_dir() / "weights")
    if SHARED_DIR.is_dir():
        dirs.append(SHARED_DIR)
    return dirs


def pretrained_path(name: str, download: bool = True, progress: bool = True) -> Path:
    """The local path of checkpoint ``name`` (a key of PRETRAINED or TORCHVISION), downloading
    it into the cache if no search folder has it (PRETRAINED's only). A local copy with the wrong SHA-256 is an error (the
    cache's own copy is fetched again instead)."""
    published = entry(name)
    cache = _download.cache_dir() / "weights"
    for folder in search_dirs():
        path = folder / published.file
        if not path.is_file():
            converted = [folder / n for n in converted_names(name) if (folder / n).is_file()]
            if converted:
                return converted[0]
            continue
        actual = _download.sha256_of(path)
        if hash_matches(published, actual):
            return path
        if folder != cache:
            raise _download.ChecksumError(
                f"pretrained_path: {path} has SHA-256 {actual}, expected {published.sha256} for "
                f"{name}; the file is damaged or a different one -- remove or replace it")
    if not download:
        raise _not_found(name, "download=False")
    if name not in PRETRAINED:
        raise _not_found(name, "minidl does not download torchvision's checkpoints")
    try:
        return _download.download(published.url, cache / published.file, published.sha256,
                                  progress=progress, size=published.size)
    except _download.ChecksumError:
        raise
    except _download.DownloadError as err:      # offline, refused, cut short: say what to do
        raise _not_found(name, f"downloading failed: {err}") from None


def guess_arch(path: str | os.PathLike, archs: Iterable[str]) -> str | None:
    """The architecture of a checkpoint file: by SHA-256 if it is a published one (or by
    torchvision's file name), else by a name that starts with one of ``archs`` ('vgg16_bn-6c64b313.pth' -> 'vgg16_bn'); None if
    neither. ``archs``: the architecture names known to the caller (minidl.models' registry)."""
    path = Path(path)
    if path.is_file():
        digest = _download.sha256_of(path)
        for published in PRETRAINED.values():
            if published.sha256 == digest:
                return published.arch
    for published in TORCHVISION.values():
        if path.name == published.file:         # 'inception_v3_google-0cc3c7bd.pth'
            return published.arch
    # the character after the name must not continue it: 'vgg16_bn...' is not 'vgg16'
    matches = [a for a in archs if re.match(re.escape(a) + r"(?![a-z0-9_])", path.name.lower())]
    return matches[0] if matches else None


def known_name_mismatch(path: str | os.PathLike) -> str | None:
    """A warning when ``path`` is named like a published checkpoint but has another SHA-256
    (a damaged or different copy: ``pretrained=True`` would refuse it), else None."""
    path = Path(path)
    for name, published in [*PRETRAINED.items(), *TORCHVISION.items()]:
        if path.name == published.file and path.is_file():
            actual = _download.sha256_of(path)
            if not hash_matches(published, actual):
                return (f"{path} is named like the published {name} checkpoint but its SHA-256 "
                        f"is {actual}, not {published.sha256}: a damaged or different file")
    return None
