"""Dataset: labelled images held in memory as two arrays, plus class names."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def as_int64_labels(labels: np.ndarray, where: str) -> np.ndarray:
    """Integer labels as int64, refusing unsigned values that would wrap (>= 2**63)."""
    if labels.dtype.kind == "u" and labels.dtype.itemsize == 8 and labels.size and \
            labels.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{where}: labels must fit in int64, got {labels.max()} ({labels.dtype})")
    return labels.astype(np.int64, copy=False)


@dataclass(frozen=True, eq=False)
class Dataset:
    """images (N, ...) of any dtype, labels int64 (N,), classes[k] names label k.

    Indexing with an int, slice or index array gives (images[i], labels[i]);
    take(indices) gives a smaller Dataset with the same classes and name.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[str] = field(default_factory=list)
    name: str = ""

    def __post_init__(self):
        images = np.asarray(self.images)
        labels = np.asarray(self.labels)
        where = f"Dataset({self.name!r})" if self.name else "Dataset"
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"{where}: labels must be a 1-D integer array, got shape "
                             f"{labels.shape} dtype {labels.dtype}")
        if images.ndim < 1 or len(images) != len(labels):
            raise ValueError(f"{where}: images (shape {images.shape}) and labels (shape "
                             f"{labels.shape}) must have the same length N")
        if self.classes and len(labels) and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise ValueError(f"{where}: labels must lie in [0, {len(self.classes)}) for "
                             f"{len(self.classes)} classes, got range [{labels.min()}, {labels.max()}]")
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", as_int64_labels(labels, where))
        object.__setattr__(self, "classes", list(self.classes))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]

    def take(self, indices) -> "Dataset":
        """The samples at indices (an index array or slice), as a new Dataset."""
        return Dataset(self.images[indices], self.labels[indices], self.classes, self.name)


# PyTorch's name for a dataset wrapping arrays; the same class.
ArrayDataset = Dataset
