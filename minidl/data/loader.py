"""DataLoader: mini-batches (x, y) of in-memory arrays, reshuffled every epoch from a seed."""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from .arguments import check_int
from .dataset import as_int64_labels


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
        self.batch_size = check_int(batch_size, "DataLoader: batch_size", 1)
        self.images = images
        self.labels = as_int64_labels(labels, "DataLoader") if labels.dtype.kind in "iu" else labels
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.rng = np.random.default_rng(seed)

    def state_dict(self) -> dict:
        """Where the shuffle (and the transform's randomness) stands: the Generator's state.
        Loading it into a loader over the same data gives the very next epochs' batches."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state_dict: dict) -> None:
        state = state_dict.get("rng") if isinstance(state_dict, dict) else None
        if not isinstance(state, dict) or state.get("bit_generator") != \
                self.rng.bit_generator.state["bit_generator"]:
            raise ValueError(f"DataLoader.load_state_dict: expected {{'rng': a "
                             f"{type(self.rng.bit_generator).__name__} state}}, got "
                             f"{str(state_dict)[:80]}")
        self.rng.bit_generator.state = state

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
