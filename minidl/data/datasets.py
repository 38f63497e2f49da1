"""Fashion-MNIST, MNIST and scikit-learn's 8x8 digits as in-memory Datasets.

MNIST-style files are looked for, in this order, in:
  1. root (when given), and root/<name>
  2. $MINIDL_DATA, and $MINIDL_DATA/<name>
  3. /usr/share/datasets/<name>  (Debian's `dataset-fashion-mnist` package installs here)
  4. the user cache, $MINIDL_CACHE/<name> or ~/.cache/minidl/<name>
with <name> = fashion-mnist or mnist, each file either gzipped (.gz) or not. When none has the
split, download=True fetches the official gzipped files into root (or the cache), checking
their SHA-256; download=False raises DatasetNotFoundError saying where it looked.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minidl.data.dataset import Dataset
from minidl.data.idx import read_idx
from minidl.data.subsets import stratified_split
from minidl.download import DownloadError, cache_dir, download as _download

# Where Debian-style dataset packages install their files (a module global so tests can move it).
SYSTEM_DATA_ROOT = Path("/usr/share/datasets")

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGIT_CLASSES = [str(d) for d in range(10)]

_SPLIT_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_SPLIT_SIZES = {"train": 60000, "test": 10000}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not on disk and could not (or may not) be downloaded."""


@dataclass(frozen=True)
class IDXSource:
    """Where an MNIST-format dataset lives: folder name, mirrors, SHA-256 and size in bytes of
    each .gz file (a download stops as soon as it goes past the size)."""

    name: str
    title: str
    classes: list[str]
    mirrors: tuple[str, ...]
    sha256: dict[str, str]
    sizes: dict[str, int]
    debian_package: str | None = None


# SHA-256 of the official gzipped files. Fashion-MNIST: tensorflow/datasets
# url_checksums/fashion_mnist.txt; checked here against Debian's dataset-fashion-mnist, whose
# .gz files have the same deflate streams (only the gzip header's name and mtime were
# stripped): restoring them reproduces these SHA-256 values and the upstream README's MD5s.
# MNIST: tensorflow/datasets url_checksums/mnist.txt.
FASHION_MNIST = IDXSource(
    name="fashion-mnist",
    title="Fashion-MNIST",
    classes=FASHION_MNIST_CLASSES,
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
    sha256={
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    # Debian's copies are these sizes less the gzip header's file name (+ its NUL byte)
    sizes={"train-images-idx3-ubyte.gz": 26421880, "train-labels-idx1-ubyte.gz": 29515,
           "t10k-images-idx3-ubyte.gz": 4422102, "t10k-labels-idx1-ubyte.gz": 5148},
    debian_package="dataset-fashion-mnist",
)
MNIST = IDXSource(
    name="mnist",
    title="MNIST",
    classes=DIGIT_CLASSES,
    mirrors=("http://yann.lecun.com/exdb/mnist/",
             "https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    sha256={
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    sizes={"train-images-idx3-ubyte.gz": 9912422, "train-labels-idx1-ubyte.gz": 28881,
           "t10k-images-idx3-ubyte.gz": 1648877, "t10k-labels-idx1-ubyte.gz": 4542},
)


def search_dirs(source: IDXSource, root: str | os.PathLike | None = None) -> list[Path]:
    """The folders looked in for source's files, in lookup order (see the module docstring)."""
    dirs: list[Path] = []
    for base in (root, os.environ.get("MINIDL_DATA") or None):
        if base is not None:
            base = Path(base).expanduser()
            dirs += [base, base / source.name]
    if source.debian_package:
        dirs.append(SYSTEM_DATA_ROOT / source.name)
    dirs.append(cache_dir() / source.name)
    return list(dict.fromkeys(dirs))


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_split(source: IDXSource, split: str,
               root: str | os.PathLike | None = None) -> tuple[Path, Path] | None:
    """(images file, labels file) from the first folder holding both, or None."""
    stems = _SPLIT_FILES[split]
    for folder in search_dirs(source, root):
        found = [_find(folder, stem) for stem in stems]
        if all(found):
            return found[0], found[1]
    return None


def _not_found_message(source: IDXSource, split: str, root, download: bool, reason: str) -> str:
    stems = " and ".join(f"{s}[.gz]" for s in _SPLIT_FILES[split])
    looked = "\n".join(f"  {d}" for d in search_dirs(source, root))
    how = []
    if source.debian_package:
        how.append(f"  - install the Debian/Ubuntu package: sudo apt-get install "
                   f"{source.debian_package}  (files go to {SYSTEM_DATA_ROOT / source.name})")
    how.append("  - put the files in a folder and set MINIDL_DATA=/that/folder, or pass root=")
    how.append(f"  - download them yourself from {source.mirrors[0]}")
    if not download:
        how.append("  - or call again with download=True (needs network access)")
    return (f"{source.title} {split!r} split not found: looked for {stems} in\n{looked}\n"
            f"{reason}\nTo get the files, any one of:\n" + "\n".join(how))


def _download_split(source: IDXSource, split: str, target: Path, progress: bool) -> tuple[Path, Path]:
    paths = []
    for stem in _SPLIT_FILES[split]:
        filename = f"{stem}.gz"
        errors = []
        for mirror in source.mirrors:
            try:
                paths.append(_download(mirror + filename, target / filename,
                                       source.sha256[filename], progress=progress,
                                       size=source.sizes[filename]))
                break
            except DownloadError as err:
                errors.append(str(err))
        else:
            raise DownloadError("\n".join(errors))
    return paths[0], paths[1]


def load_idx_dataset(source: IDXSource, split: str = "train", root: str | os.PathLike | None = None,
                     download: bool = True, progress: bool = True) -> Dataset:
    """Read (or first fetch) one split of an MNIST-format dataset and check its contents."""
    if split not in _SPLIT_FILES:
        raise ValueError(f"{source.name}: split must be 'train' or 'test', got {split!r}")
    found = find_split(source, split, root)
    if found is None:
        if not download:
            raise DatasetNotFoundError(_not_found_message(
                source, split, root, False, "Not downloading (download=False)."))
        target = Path(root).expanduser() if root is not None else cache_dir() / source.name
        try:
            found = _download_split(source, split, target, progress)
        except DownloadError as err:
            raise DatasetNotFoundError(_not_found_message(
                source, split, root, True, f"Download into {target} failed:\n{err}")) from err
    images_path, labels_path = found
    images, labels = read_idx(images_path), read_idx(labels_path)
    expected = _SPLIT_SIZES[split]
    if images.dtype != np.uint8 or images.shape != (expected, 28, 28):
        raise ValueError(f"{images_path}: expected {source.title} {split} images uint8 "
                         f"{(expected, 28, 28)}, got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.shape != (expected,):
        raise ValueError(f"{labels_path}: expected {source.title} {split} labels uint8 "
                         f"({expected},), got {labels.dtype} {labels.shape}")
    if labels.max() >= len(source.classes):
        raise ValueError(f"{labels_path}: labels must lie in [0, {len(source.classes)}), "
                         f"found {labels.max()}")
    return Dataset(images, labels, source.classes, f"{source.name}-{split}")


def fashion_mnist(split: str = "train", root: str | os.PathLike | None = None,
                  download: bool = True, progress: bool = True) -> Dataset:
    """Fashion-MNIST: images uint8 (N, 28, 28), labels int64 (N,), N = 60000 train / 10000 test."""
    return load_idx_dataset(FASHION_MNIST, split, root, download, progress)


def mnist(split: str = "train", root: str | os.PathLike | None = None,
          download: bool = True, progress: bool = True) -> Dataset:
    """MNIST handwritten digits: images uint8 (N, 28, 28), labels int64 (N,)."""
    return load_idx_dataset(MNIST, split, root, download, progress)


def digits(split: str = "all", test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images): images uint8 (N, 8, 8) scaled from
    0..16 to 0..255, labels int64 (N,). split 'train'/'test' is a stratified split that
    depends only on (test_fraction, seed); 'all' returns every image."""
    from sklearn.datasets import load_digits

    if split not in ("all", "train", "test"):
        raise ValueError(f"digits: split must be 'all', 'train' or 'test', got {split!r}")
    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    data = Dataset(images, bunch.target, DIGIT_CLASSES, "digits")
    if split == "all":
        return data
    train, test = stratified_split(data.labels, test_fraction, seed)
    part = data.take(train if split == "train" else test)
    return Dataset(part.images, part.labels, part.classes, f"digits-{split}")


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W) or (N, C, H, W) -> float32 (N, C, H, W) in [0, 1] (C = 1 for 3-D)."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(f"to_float: expected uint8 images (N, H, W) or (N, C, H, W), got "
                         f"{images.dtype} {images.shape}")
    if images.ndim == 3:
        images = images[:, None]
    return images.astype(np.float32) / np.float32(255.0)
