"""Seeded subsets of a Dataset: random splits, stratified splits, n images per class and the
images held out from them.

All index choices come from np.random.default_rng(seed), so the same seed always picks the
same samples; returned indices are in ascending order.
"""
from __future__ import annotations

import numpy as np

from minidl.data.dataset import Dataset


def _class_permutations(labels: np.ndarray, seed: int) -> list[np.ndarray]:
    """For each class 0..max(labels), that class's sample indices in a seeded random order."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    num_classes = int(labels.max()) + 1 if len(labels) else 0
    return [rng.permutation(np.flatnonzero(labels == k)) for k in range(num_classes)]


def stratified_split(labels: np.ndarray, test_fraction: float = 0.2,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices): round(test_fraction * n_k) of each class k go to test."""
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"stratified_split: test_fraction must be in [0, 1], got {test_fraction}")
    train, test = [], []
    for perm in _class_permutations(labels, seed):
        n_test = int(round(test_fraction * len(perm)))
        test.append(perm[:n_test])
        train.append(perm[n_test:])
    empty = np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(train or [empty])), np.sort(np.concatenate(test or [empty]))


def _orders_with(dataset: Dataset, n_per_class: int, seed: int, fn: str, least: int) -> list[np.ndarray]:
    """Every class's sample indices in the seeded order (the dataset's declared classes
    included, if absent from its labels), each checked to hold n_per_class >= least of them."""
    labels = dataset.labels
    num_classes = len(dataset.classes) or (int(labels.max()) + 1 if len(labels) else 0)
    perms = _class_permutations(labels, seed)
    perms += [np.zeros(0, dtype=np.int64)] * (num_classes - len(perms))
    short = {k: len(p) for k, p in enumerate(perms) if len(p) < n_per_class}
    if n_per_class < least or short:
        raise ValueError(f"{fn}: cannot take {n_per_class} per class from "
                         f"{dataset.name or 'the dataset'}; classes with fewer samples "
                         f"(class: count): {short}")
    return perms


def subset(dataset: Dataset, n_per_class: int, seed: int = 0) -> Dataset:
    """A class-balanced Dataset with n_per_class samples of every class.

    Subsets drawn with the same seed are nested: the 10-per-class subset lies inside the
    100-per-class one, so studies over subset sizes differ only in the added samples.
    """
    perms = _orders_with(dataset, n_per_class, seed, "subset", least=0)
    return dataset.take(np.sort(np.concatenate([p[:n_per_class] for p in perms])))


def held_out(dataset: Dataset, n_per_class: int, seed: int = 0) -> Dataset:
    """n_per_class samples of every class, the last of the seeded order that subset(dataset, k,
    seed) draws from: disjoint from every such subset while k + n_per_class <= the class's
    size. A validation set for studies that grow their training subsets."""
    perms = _orders_with(dataset, n_per_class, seed, "held_out", least=1)
    return dataset.take(np.sort(np.concatenate([p[len(p) - n_per_class:] for p in perms])))


def random_split(dataset: Dataset, lengths, seed: int = 0) -> list[Dataset]:
    """Split into disjoint random parts of the given lengths (ints summing to len(dataset),
    or fractions summing to 1, the remainder going one by one to the first parts)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths):
        if abs(sum(lengths) - 1.0) > 1e-6 or min(lengths) < 0:
            raise ValueError(f"random_split: fractions must be >= 0 and sum to 1, got {lengths}")
        counts = [int(np.floor(f * n)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n or any(x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths {lengths} must be >= 0 and sum to the dataset "
                         f"size {n}")
    perm = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([0] + lengths)
    return [dataset.take(np.sort(perm[a:b])) for a, b in zip(bounds[:-1], bounds[1:])]


def split_classes(num_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint halves (A, B) of the classes 0..num_classes-1, picked at random from seed
    (np.random.default_rng(seed).permutation: its first half is A), each sorted. With an odd
    count B has the extra class. Yosinski et al. (2014) split ImageNet's classes this way."""
    if num_classes < 2:
        raise ValueError(f"split_classes: need at least 2 classes, got {num_classes}")
    order = np.random.default_rng(seed).permutation(num_classes)
    half = num_classes // 2
    return np.sort(order[:half]), np.sort(order[half:])


def class_subset(dataset: Dataset, classes) -> Dataset:
    """The samples of the given classes only, relabelled 0..len(classes)-1 in the order given
    (class names follow), as a new Dataset named '<name>[c1,c2,...]'."""
    classes = [int(c) for c in classes]
    known = len(dataset.classes) or (int(dataset.labels.max()) + 1 if len(dataset) else 0)
    bad = [c for c in classes if not 0 <= c < known]
    if bad or len(set(classes)) != len(classes) or not classes:
        raise ValueError(f"class_subset: classes must be distinct labels of "
                         f"{dataset.name or 'the dataset'} in [0, {known}), got {classes}")
    new_label = np.full(known, -1, dtype=np.int64)
    new_label[classes] = np.arange(len(classes))
    keep = np.flatnonzero(new_label[dataset.labels] >= 0)
    names = [dataset.classes[c] for c in classes] if dataset.classes else []
    return Dataset(dataset.images[keep], new_label[dataset.labels[keep]], names,
                   f"{dataset.name}[{','.join(map(str, classes))}]")
