"""DataLoader: mini-batches (x, y) from a dataset or two in-memory arrays, reshuffled every epoch
from a seed.

    DataLoader(dataset, batch_size=64, shuffle=True, seed=0)          # PyTorch's form
    DataLoader(images, labels, batch_size=64, shuffle=True, seed=0)   # two arrays
"""
from __future__ import annotations

import inspect
from typing import Iterator

import numpy as np

from .arguments import check_int
from .dataset import as_int64_labels


def _dataset_form(dataset, batch_size=1, shuffle=False, *, sampler=None, drop_last=False,
                  seed=None, transform=None): ...


def _array_form(images, labels, batch_size, shuffle=False, *, sampler=None, drop_last=False,
                seed=None, transform=None): ...


FORMS = {"dataset": inspect.signature(_dataset_form), "arrays": inspect.signature(_array_form)}


class DataLoader:
    """Iterate (x, y) batches: x (B, ...) of the images' dtype, y (B, ...) the labels.

    dataset is a minidl Dataset (batches are slices of its arrays) or any object with
    ``__len__`` and ``__getitem__(i) -> (x_i, y_i)`` (PyTorch's map-style dataset), whose items
    are stacked into batches; or pass the two arrays, images (N, ...) and labels.
    Labels are integer class labels, (N,) for classification or (N, H, W) for a class per pixel,
    handed out as int64; or float targets of any shape (N, ...) for regression, kept as they are.

    With shuffle, each pass (epoch) takes a fresh permutation from a Generator seeded once
    with seed, so two loaders with the same seed give the same batches epoch after epoch; seed
    may also be a np.random.Generator, which is then drawn from (not copied).
    sampler, instead of shuffle, is an iterable of sample indices read afresh every epoch
    (for instance one rank's shard of the data).
    transform(x, rng) is applied to each batch with that same Generator (see transforms.py).
    From arrays without shuffle, sampler or transform, batches are views, not copies.
    """

    def __init__(self, data, *args, **kwargs):
        arrays = isinstance(data, np.ndarray) or "labels" in kwargs or \
            bool(args) and not _is_number(args[0])
        form = FORMS["arrays" if arrays else "dataset"]
        try:
            bound = form.bind(data, *args, **kwargs)
        except TypeError as err:
            raise TypeError(f"DataLoader{form}: {err}") from None
        bound.apply_defaults()
        a = bound.arguments
        if arrays:
            self.images, self.labels = _checked_arrays(a["images"], a["labels"])
            self.dataset = None
        elif _holds_arrays(data):
            self.images, self.labels = _checked_arrays(data.images, data.labels)
            self.dataset = data
        elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
            self.images = self.labels = None
            self.dataset = data
        else:
            raise TypeError(f"DataLoader: expected a Dataset (with __len__ and __getitem__ giving "
                            f"(x, y)) or images and labels arrays, got {type(data).__name__}")
        self.batch_size = check_int(a["batch_size"], "DataLoader: batch_size", 1)
        if a["sampler"] is not None and a["shuffle"]:
            raise ValueError("DataLoader: sampler and shuffle=True exclude each other (the "
                             "sampler gives the order)")
        self.shuffle, self.sampler = bool(a["shuffle"]), a["sampler"]
        self.drop_last = a["drop_last"]
        self.transform = a["transform"]
        self.rng = np.random.default_rng(a["seed"])

    def state_dict(self) -> dict:
        """Where the shuffle (and the transform's randomness) stands: the Generator's state.
        Loading it into a loader over the same data gives the very next epochs' batches."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state_dict: dict) -> None:
        restore_rng(self.rng, state_dict, "DataLoader.load_state_dict")

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n, b = self._samples(), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def _samples(self) -> int:
        if self.sampler is not None:
            return len(self.sampler)
        return len(self.labels) if self.labels is not None else len(self.dataset)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = self._samples()
        order = (np.fromiter(iter(self.sampler), dtype=np.int64) if self.sampler is not None
                 else self.rng.permutation(n) if self.shuffle else None)
        if order is not None and len(order) != n:
            raise ValueError(f"DataLoader: the sampler gave {len(order)} indices, its len() says {n}")
        for i in range(len(self)):
            start, stop = i * self.batch_size, min((i + 1) * self.batch_size, n)
            idx = order[start:stop] if order is not None else slice(start, stop)
            x, y = self._fetch(idx)
            if self.transform is not None:
                x = self.transform(x, self.rng)
            yield x, y

    def _fetch(self, idx) -> tuple[np.ndarray, np.ndarray]:
        if self.labels is not None:
            return self.images[idx], self.labels[idx]
        indices = range(len(self.dataset))[idx] if isinstance(idx, slice) else idx
        items = [self.dataset[int(i)] for i in indices]
        for i, item in zip(indices, items):
            if not (isinstance(item, tuple) and len(item) == 2):
                raise TypeError(f"DataLoader: dataset[{i}] must be a pair (x, y), got "
                                f"{type(item).__name__}")
        x = np.stack([np.asarray(item[0]) for item in items])
        _, y = _checked_arrays(x, np.asarray([item[1] for item in items]))
        return x, y


def restore_rng(rng: np.random.Generator, state_dict, where: str, extra: str = "") -> None:
    """Set rng to state_dict["rng"], a state of rng's own bit generator, or raise ValueError
    saying where, what was expected (``extra``: the other keys) and what came."""
    state = state_dict.get("rng") if isinstance(state_dict, dict) else None
    kind = type(rng.bit_generator).__name__
    if not isinstance(state, dict) or state.get("bit_generator") != kind:
        raise ValueError(f"{where}: expected {{'rng': a {kind} state{extra}}}, got {str(state_dict)[:80]}")
    rng.bit_generator.state = state


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _holds_arrays(data) -> bool:
    return isinstance(getattr(data, "images", None), np.ndarray) and \
        isinstance(getattr(data, "labels", None), np.ndarray)


def _checked_arrays(images, labels) -> tuple[np.ndarray, np.ndarray]:
    """images (N, ...) and labels (N, ...) as arrays, integer labels as int64."""
    images, labels = np.asarray(images), np.asarray(labels)
    if labels.ndim < 1 or labels.dtype.kind not in "iuf":
        raise ValueError(f"DataLoader: labels must be integer class labels or float targets, "
                         f"(N, ...), got shape {labels.shape} dtype {labels.dtype}")
    if images.ndim < 1 or len(images) != len(labels):
        raise ValueError(f"DataLoader: images (shape {images.shape}) and labels (shape "
                         f"{labels.shape}) must have the same length N")
    return images, as_int64_labels(labels, "DataLoader") if labels.dtype.kind in "iu" else labels
