"""prepare(): the statistics come from the training part only, every split is normalised with
them, and the validation split is the stratified one."""
import numpy as np
import pytest

from minidl.data import Dataset, PadTo, prepare, stratified_split, to_float


def dataset(n, seed, offset=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 4
    images = np.clip(rng.normal(80 + 30 * labels[:, None, None] + offset, 25, (n, 6, 6)), 0, 255)
    return Dataset(images.astype(np.uint8), labels, ["a", "b", "c", "d"])


def test_statistics_come_from_the_training_part_only():
    train, test = dataset(200, 0), dataset(80, 1, offset=60)          # the test set is brighter
    data = prepare(train, test, val_fraction=0.25, seed=3)
    fit_idx, val_idx = stratified_split(train.labels, 0.25, 3)
    x_fit = to_float(train.images[fit_idx])
    assert (data.mean, data.std) == (float(x_fit.mean()), float(x_fit.std()))
    np.testing.assert_array_equal(data.train[0], ((x_fit - data.mean) / data.std).astype(np.float32))
    np.testing.assert_array_equal(data.train[1], train.labels[fit_idx])
    np.testing.assert_array_equal(data.val[1], train.labels[val_idx])
    np.testing.assert_array_equal(data.val[0], (to_float(train.images[val_idx]) - data.mean) / data.std)
    assert abs(data.train[0].mean()) < 1e-5 and abs(data.train[0].std() - 1) < 1e-4
    assert data.test[0].mean() > 0.5                                  # not re-centred on itself
    assert data.image_shape == (1, 6, 6) and data.classes == ["a", "b", "c", "d"]


def test_statistics_of_a_larger_split_or_given_ones():
    full = dataset(300, 2)
    part = full.take(np.arange(50))
    data = prepare(part, stats=full)                                   # e.g. the whole split
    x_full = to_float(full.images)
    assert (data.mean, data.std) == (float(x_full.mean()), float(x_full.std()))
    assert data.val is None and data.test is None
    given = prepare(part, stats=((0.5,), (0.25,)))
    np.testing.assert_array_equal(given.train[0], (to_float(part.images) - np.float32(0.5)) / np.float32(0.25))
    with pytest.raises(ValueError, match="stats must be 'train', a Dataset or a \\(mean, std\\) pair"):
        prepare(part, stats="test")


def test_the_transform_comes_before_the_statistics():
    train = dataset(40, 4)
    data = prepare(train, transform=PadTo(8))
    padded = PadTo(8)(to_float(train.images))
    assert data.image_shape == (1, 8, 8) and data.mean == float(padded.mean())
    assert np.all(data.train[0][:, :, 0] == np.float32((0 - data.mean) / data.std))   # black border


def test_too_few_images_for_a_validation_split_is_an_error():
    with pytest.raises(ValueError, match="prepare: 3 training images are too few"):
        prepare(dataset(3, 5), val_fraction=0.1)
