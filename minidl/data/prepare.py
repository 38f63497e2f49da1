"""prepare(): an experiment's train / validation / test arrays, normalised with statistics
taken from the training images only.

    data = prepare(fashion_mnist("train"), fashion_mnist("test"), val_fraction=0.1)
    x_train, y_train = data.train            # float32 (N, C, H, W), int64 (N,)
    data.mean, data.std                      # the training images' (one number each)

Steps, in order: uint8 images to floats in [0, 1] (to_float); ``transform`` on every split (a
resize or pad to the size a model takes); a stratified validation split off the training set
(``val_fraction``, ``seed``); the statistics; ``(x - mean) / std`` on every split (Normalize).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from minidl.data.dataset import Dataset
from minidl.data.datasets import to_float
from minidl.data.subsets import stratified_split
from minidl.data.transforms import Normalize

__all__ = ["Prepared", "image_stats", "prepare"]


@dataclass
class Prepared:
    """Normalised float32 images (N, C, H, W) with int64 labels, per split, and the statistics
    they were normalised with (floats, or one value per channel when they were given so).
    val and test are None when not asked for."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray] | None
    test: tuple[np.ndarray, np.ndarray] | None
    classes: list[str]
    mean: float | tuple
    std: float | tuple

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(C, H, W) of every image."""
        return tuple(self.train[0].shape[1:])


def image_stats(images: np.ndarray) -> tuple[float, float]:
    """(mean, std) over every pixel of float images: one number each, as the lab normalises."""
    return float(images.mean()), float(images.std())


def _floats(dataset: Dataset, transform: Callable | None) -> np.ndarray:
    images = dataset.images if dataset.images.dtype.kind == "f" else to_float(dataset.images)
    return images if transform is None else transform(images)


def prepare(train: Dataset, test: Dataset | None = None, val_fraction: float = 0.0,
            seed: int = 0, transform: Callable | None = None, stats="train") -> Prepared:
    """Normalised splits of train (and test), with a validation part split off train.

    val_fraction  the share of each class of train held out for validation (stratified_split
                  with seed); 0 gives no validation split
    transform     applied to every split's float images before the statistics, e.g. Resize(28)
    stats         where mean and std come from: "train" (the training part, after the
                  validation split); a Dataset (its images, prepared the same way: e.g. the
                  whole training split when train is a subset of it); or a (mean, std) pair
                  (numbers, or one per channel: a pretrained network's input statistics)
    """
    x_train, y_train = _floats(train, transform), train.labels
    if stats is train:                               # the statistics of all of it
        stats = image_stats(x_train)
    val = None
    if val_fraction:
        fit_idx, val_idx = stratified_split(y_train, val_fraction, seed)
        if len(fit_idx) == 0 or len(val_idx) == 0:
            raise ValueError(f"prepare: {len(y_train)} training images are too few to split off "
                             f"a validation fraction of {val_fraction}")
        val = (x_train[val_idx], y_train[val_idx])
        x_train, y_train = x_train[fit_idx], y_train[fit_idx]
    if isinstance(stats, str) and stats == "train":
        mean, std = image_stats(x_train)
    elif isinstance(stats, Dataset):
        mean, std = image_stats(_floats(stats, transform))
    elif isinstance(stats, (tuple, list)) and len(stats) == 2:
        mean, std = stats
    else:
        raise ValueError(f"prepare: stats must be 'train', a Dataset or a (mean, std) pair, "
                         f"got {stats!r}")
    normalize = Normalize(mean, std)

    def normalised(x, y):
        return normalize(x).astype(np.float32, copy=False), y

    return Prepared(normalised(x_train, y_train), None if val is None else normalised(*val),
                    None if test is None else normalised(_floats(test, transform), test.labels),
                    list(train.classes), mean, std)
