"""DataLoader: mini-batches (x, y) of in-memory arrays, reshuffled every epoch from a seed."""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np


class DataLoader:
    """Iterate (x, y) batches: x = images[idx] (B, ...) of images' dtype, y = labels[idx].

    labels are integer class labels, (N,) for classification or (N, H, W) for a class per pixel,
    handed out as int64; or float targets of any shape (N, ...) for regression, kept as they are.

    With shuffle, each pass (epoch) takes a fresh permutation from a Generator seeded once
    with seed, so two loaders with the same seed give the same batches epoch after epoch; seed
    may also be a np.random.Generator, which is then drawn from (not copied).
    transform(x, rng) is applied to each batch with that same Generator (see transforms.py).
    Without shuffle or transform, batches are views of images, not copies.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int,
                 shuffle: bool = False, seed: int | np.random.Generator | None = None,
                 drop_last: bool = False, transform: Callable | None = None):
        images, labels = np.asarray(images), np.asarray(labels)
        if labels.ndim < 1 or labels.dtype.kind not in "iuf":
            raise ValueError(f"DataLoader: labels must be integer class labels or float targets, "
                             f"(N, ...), got shape {labels.shape} dtype {labels.dtype}")
        if images.ndim < 1 or len(images) != len(labels):
            raise ValueError(f"DataLoader: images (shape {images.shape}) and labels (shape "
                             f"{labels.shape}) must have the same length N")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        self.images = images
        self.labels = labels.astype(np.int64, copy=False) if labels.dtype.kind in "iu" else labels
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n, b = len(self.labels), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = len(self.labels)
        order = self.rng.permutation(n) if self.shuffle else None
        for i in range(len(self)):
            start, stop = i * self.batch_size, min((i + 1) * self.batch_size, n)
            idx = order[start:stop] if order is not None else slice(start, stop)
            x, y = self.images[idx], self.labels[idx]
            if self.transform is not None:
                x = self.transform(x, self.rng)
            yield x, y
