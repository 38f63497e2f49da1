"""split_classes and class_subset: the class halves A/B of a transfer study (Yosinski et al.)."""
import numpy as np
import pytest

from minidl.data import Dataset, class_subset, split_classes


def test_split_classes_is_a_seeded_partition():
    for n in (2, 5, 10, 11):
        for seed in (0, 1, 7):
            a, b = split_classes(n, seed)
            assert sorted(np.concatenate([a, b]).tolist()) == list(range(n))   # disjoint, complete
            assert len(a) == n // 2 and len(b) == n - n // 2
            assert list(a) == sorted(a) and list(b) == sorted(b)
            again = split_classes(n, seed)
            assert np.array_equal(a, again[0]) and np.array_equal(b, again[1])
    # the documented rule: A is the first half of default_rng(seed).permutation(n)
    assert np.array_equal(split_classes(10, 0)[0], np.sort(np.random.default_rng(0).permutation(10)[:5]))
    assert any(not np.array_equal(split_classes(10, 0)[0], split_classes(10, s)[0]) for s in range(1, 5))
    with pytest.raises(ValueError, match="at least 2"):
        split_classes(1)


def test_class_subset_keeps_only_those_classes_and_relabels_in_the_given_order():
    labels = np.array([0, 1, 2, 3, 2, 1, 0, 3, 3])
    images = np.arange(len(labels)) * 10                 # image i is 10 i: we can see which were kept
    ds = Dataset(images, labels, ["a", "b", "c", "d"], "toy")
    part = class_subset(ds, [3, 1])
    assert part.images.tolist() == [10, 30, 50, 70, 80]  # the samples of classes 1 and 3, in order
    assert part.labels.tolist() == [1, 0, 1, 0, 0]       # class 3 -> 0, class 1 -> 1
    assert part.classes == ["d", "b"] and part.name == "toy[3,1]"
    for bad in ([4], [1, 1], [], [-1]):
        with pytest.raises(ValueError, match="class_subset"):
            class_subset(ds, bad)
