"""DataLoader batching/shuffling and the Dataset subset helpers."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.data import ArrayDataset, DataLoader, Dataset, held_out, random_split, subset
from minidl.data.transforms import GaussianNoise


def arrays(n, c=1, hw=2):
    """images whose every value is the sample index, so batches reveal their indices."""
    images = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None],
                             (n, c, hw, hw)).copy()
    labels = np.arange(n) % 10
    return images, labels


def indices_of(x):
    return x[:, 0, 0, 0].astype(int)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), b=st.integers(1, 12), shuffle=st.booleans(), drop_last=st.booleans())
def test_epoch_covers_every_sample_once(n, b, shuffle, drop_last):
    images, labels = arrays(n)
    loader = DataLoader(images, labels, b, shuffle=shuffle, seed=0, drop_last=drop_last)
    batches = list(loader)
    assert len(batches) == len(loader) == (n // b if drop_last else -(-n // b))
    seen = np.concatenate([indices_of(x) for x, _ in batches]) if batches else np.zeros(0, int)
    for x, y in batches:
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert np.array_equal(y, labels[indices_of(x)])  # images and labels stay paired
        assert len(x) == b or (not drop_last and x is batches[-1][0])
    if drop_last:
        assert len(seen) == (n // b) * b and len(set(seen)) == len(seen)
    else:
        assert sorted(seen) == list(range(n))
    if not shuffle:
        assert np.array_equal(seen, np.arange(len(seen)))


def test_drop_last_drops_only_the_short_batch():
    images, labels = arrays(10)
    sizes = [len(y) for _, y in DataLoader(images, labels, 4, drop_last=True)]
    assert sizes == [4, 4]
    sizes = [len(y) for _, y in DataLoader(images, labels, 4)]
    assert sizes == [4, 4, 2]
    assert len(DataLoader(images, labels, 20, drop_last=True)) == 0


def test_same_seed_same_batches_and_each_epoch_reshuffles():
    images, labels = arrays(50)
    a = DataLoader(images, labels, 8, shuffle=True, seed=3)
    b = DataLoader(images, labels, 8, shuffle=True, seed=3)
    epochs_a = [np.concatenate([indices_of(x) for x, _ in a]) for _ in range(3)]
    epochs_b = [np.concatenate([indices_of(x) for x, _ in b]) for _ in range(3)]
    for ea, eb in zip(epochs_a, epochs_b):
        assert np.array_equal(ea, eb)
    assert not np.array_equal(epochs_a[0], epochs_a[1])
    other = DataLoader(images, labels, 8, shuffle=True, seed=4)
    assert not np.array_equal(np.concatenate([indices_of(x) for x, _ in other]), epochs_a[0])


def test_transform_gets_each_batch_and_the_loader_rng():
    images, labels = arrays(12, hw=3)
    calls = []

    def spy(x, rng):
        calls.append((len(x), rng))
        return x * 2

    loader = DataLoader(images, labels, 5, transform=spy, seed=0)
    out = list(loader)
    assert [n for n, _ in calls] == [5, 5, 2]
    assert all(r is loader.rng for _, r in calls)
    assert np.array_equal(out[0][0], images[:5] * 2)


def test_random_transform_is_reproducible_through_the_loader():
    images, labels = arrays(20, hw=4)
    make = lambda: DataLoader(images, labels, 6, shuffle=True, seed=1, transform=GaussianNoise(0.1))
    for (xa, ya), (xb, yb) in zip(make(), make()):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)


def test_loader_errors_name_the_problem():
    images, labels = arrays(6)
    with pytest.raises(ValueError, match=r"DataLoader: images \(shape \(6, 1, 2, 2\)\) and labels \(shape \(5,\)\)"):
        DataLoader(images, labels[:5], 2)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        DataLoader(images, labels, 0)
    with pytest.raises(ValueError, match=r"labels must be integer class labels or float targets, \(N, \.\.\.\), "
                                         r"got shape \(6,\) dtype bool"):
        DataLoader(images, labels > 0, 2)
    with pytest.raises(ValueError, match="got shape \\(\\) dtype int64"):
        DataLoader(images, np.int64(3), 2)


def test_float_targets_and_label_maps_travel_with_their_images():
    images, _ = arrays(10)
    targets = np.arange(10, dtype=np.float32)[:, None] / 4          # regression: (N, 1) floats
    maps = np.arange(10)[:, None, None] * np.ones((1, 2, 2), int)   # a class per pixel: (N, 2, 2)
    for y_all, dtype in ((targets, np.float32), (maps, np.int64)):
        for xb, yb in DataLoader(images, y_all, 4, shuffle=True, seed=3):
            assert yb.dtype == dtype and yb.shape[1:] == y_all.shape[1:]
            rows = xb.reshape(len(xb), -1)[:, 0].astype(int)       # image i holds the value i
            np.testing.assert_array_equal(yb, y_all[rows].astype(dtype))


def labelled(counts, seed=0):
    labels = np.repeat(np.arange(len(counts)), counts)
    labels = np.random.default_rng(seed).permutation(labels)
    images = np.arange(len(labels))[:, None, None].astype(np.uint8)  # image i holds i
    return Dataset(images, labels, [f"c{k}" for k in range(len(counts))], "toy")


def test_subset_is_balanced_seeded_and_nested():
    ds = labelled([30, 25, 40])
    small, big = subset(ds, 5, seed=2), subset(ds, 20, seed=2)
    assert np.array_equal(np.bincount(small.labels), [5, 5, 5])
    assert np.array_equal(np.bincount(big.labels), [20, 20, 20])
    # samples keep their labels, and the small subset lies inside the big one
    assert np.array_equal(small.labels, ds.labels[small.images[:, 0, 0]])
    assert set(small.images[:, 0, 0]) <= set(big.images[:, 0, 0])
    assert np.array_equal(subset(ds, 5, seed=2).images, small.images)
    assert not np.array_equal(subset(ds, 5, seed=3).images, small.images)
    assert small.classes == ds.classes and small.name == "toy"


def test_subset_too_large_for_a_class_says_which():
    with pytest.raises(ValueError, match=r"cannot take 26 per class.*\{1: 25\}"):
        subset(labelled([30, 25, 40]), 26)


def test_subset_counts_classes_absent_from_the_labels():
    ds = Dataset(np.zeros((4, 1)), np.array([0, 0, 1, 1]), ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"\{2: 0\}"):
        subset(ds, 1)


@given(st.lists(st.integers(4, 30), min_size=1, max_size=5), st.integers(0, 1000), st.data())
@settings(max_examples=40, deadline=None)
def test_held_out_is_balanced_and_apart_from_every_subset_that_leaves_room(counts, seed, data):
    ds = labelled(counts, seed=seed)
    n = data.draw(st.integers(1, min(counts) - 1), label="held out per class")
    val = held_out(ds, n, seed=seed)
    assert np.array_equal(np.bincount(val.labels, minlength=len(counts)), [n] * len(counts))
    assert np.array_equal(val.labels, ds.labels[val.images[:, 0, 0]])
    biggest = subset(ds, min(counts) - n, seed=seed)          # the largest subset it must avoid
    assert not set(val.images[:, 0, 0]) & set(biggest.images[:, 0, 0])
    assert np.array_equal(held_out(ds, n, seed=seed).images, val.images)


def test_held_out_too_large_for_a_class_says_which():
    with pytest.raises(ValueError, match=r"held_out: cannot take 26 per class.*\{1: 25\}"):
        held_out(labelled([30, 25, 40]), 26)
    with pytest.raises(ValueError, match=r"\{2: 0\}"):
        held_out(Dataset(np.zeros((4, 1)), np.array([0, 0, 1, 1]), ["a", "b", "c"]), 1)


@pytest.mark.parametrize("lengths", [[60, 30, 10], [0.6, 0.3, 0.1]])
def test_random_split_is_a_seeded_partition(lengths):
    ds = labelled([50, 50])
    parts = random_split(ds, lengths, seed=1)
    assert [len(p) for p in parts] == [60, 30, 10]
    ids = np.concatenate([p.images[:, 0, 0] for p in parts])
    assert sorted(ids) == list(range(100))
    again = random_split(ds, lengths, seed=1)
    assert all(np.array_equal(a.images, b.images) for a, b in zip(parts, again))
    assert not np.array_equal(random_split(ds, lengths, seed=2)[0].images, parts[0].images)


def test_random_split_fractions_spread_the_remainder():
    parts = random_split(labelled([5, 5]), [0.5, 0.25, 0.25])  # floors 5, 2, 2 of 10
    assert [len(p) for p in parts] == [6, 2, 2]  # the one left over goes to the first part


def test_random_split_rejects_lengths_that_do_not_add_up():
    with pytest.raises(ValueError, match="sum to the dataset size 10"):
        random_split(labelled([5, 5]), [3, 3])
    with pytest.raises(ValueError, match="fractions must be >= 0 and sum to 1"):
        random_split(labelled([5, 5]), [0.5, 0.4])


def test_dataset_indexing_and_validation():
    ds = ArrayDataset(np.arange(6).reshape(3, 2), np.array([2, 0, 1], dtype=np.uint8), ["a", "b", "c"])
    assert ds.labels.dtype == np.int64 and len(ds) == 3
    x, y = ds[1]
    assert np.array_equal(x, [2, 3]) and y == 0
    assert np.array_equal(ds.take([2, 0]).labels, [1, 2])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\).*\[0, 2\]"):
        Dataset(np.zeros((3, 1)), np.array([0, 1, 2]), ["a", "b"])
    with pytest.raises(ValueError, match="same length"):
        Dataset(np.zeros((3, 1)), np.array([0, 1]))


class PairList:
    """A map-style dataset as PyTorch users write one: __len__ and __getitem__ -> (x, y)."""

    def __init__(self, images, labels):
        self.images_, self.labels_ = images, labels

    def __len__(self):
        return len(self.labels_)

    def __getitem__(self, i):
        return self.images_[i], int(self.labels_[i])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 30), b=st.integers(1, 9), shuffle=st.booleans(), drop_last=st.booleans(),
       seed=st.integers(0, 2**16))
def test_dataset_forms_give_the_array_forms_batches(n, b, shuffle, drop_last, seed):
    """PyTorch's DataLoader(dataset, batch_size, shuffle) over a minidl Dataset or any map-style
    dataset yields exactly the batches of DataLoader(images, labels, ...) with the same seed."""
    images, labels = arrays(n)
    reference = list(DataLoader(images, labels, b, shuffle=shuffle, seed=seed, drop_last=drop_last))
    for data in (Dataset(images, labels), PairList(images, labels)):
        loader = DataLoader(data, b, shuffle, seed=seed, drop_last=drop_last)
        batches = list(loader)
        assert len(loader) == len(batches) == len(reference)
        for (x, y), (xr, yr) in zip(batches, reference):
            assert x.dtype == xr.dtype and y.dtype == np.int64
            assert np.array_equal(x, xr) and np.array_equal(y, yr)


def test_sampler_gives_the_order_every_epoch():
    images, labels = arrays(10)
    shard = [7, 3, 5, 1, 9]                                # e.g. one rank's part of the data
    loader = DataLoader(Dataset(images, labels), batch_size=2, sampler=shard)
    assert len(loader) == 3
    for _ in range(2):
        assert np.concatenate([indices_of(x) for x, _ in loader]).tolist() == shard
    with pytest.raises(ValueError, match="sampler and shuffle=True exclude each other"):
        DataLoader(images, labels, 2, shuffle=True, sampler=shard)


def test_dataset_form_errors_name_the_problem():
    images, labels = arrays(4)
    with pytest.raises(TypeError, match=r"DataLoader\(dataset, batch_size=1, shuffle=False.*"
                                        r"unexpected keyword argument 'shufle'"):
        DataLoader(Dataset(images, labels), 2, shufle=True)
    with pytest.raises(TypeError, match="missing a required argument: 'labels'"):
        DataLoader(images, batch_size=2)
    with pytest.raises(TypeError, match=r"expected a Dataset .* got int"):
        DataLoader(5, 2)

    class Singles(PairList):
        def __getitem__(self, i):
            return self.images_[i]
    with pytest.raises(TypeError, match=r"dataset\[0\] must be a pair \(x, y\), got ndarray"):
        next(iter(DataLoader(Singles(images, labels), 2)))
