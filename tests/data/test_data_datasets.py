"""Dataset loaders: file lookup order, synthetic IDX files, downloads via file://, errors, and
the real Fashion-MNIST when Debian's dataset-fashion-mnist package is installed."""
import dataclasses
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

import minidl.data.datasets as datasets
from minidl.data import (
    FASHION_MNIST,
    FASHION_MNIST_CLASSES,
    DatasetNotFoundError,
    digits,
    fashion_mnist,
    load_idx_dataset,
    mnist,
    search_dirs,
    stratified_split,
    to_float,
    write_idx,
)

REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real data anywhere: empty cache, no $MINIDL_DATA, system folder moved into tmp."""
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    monkeypatch.setattr(datasets, "SYSTEM_DATA_ROOT", tmp_path / "system")


def make_split(folder: Path, tag: int, split="test", gz=(True, True), n=None, labels=None):
    """Write an MNIST-format split whose images all carry tag in pixel (0, 0)."""
    n = n or {"train": 60000, "test": 10000}[split]
    stems = TEST_FILES if split == "test" else ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    folder.mkdir(parents=True, exist_ok=True)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = tag
    images[:, 27, 27] = np.arange(n) % 251  # so samples differ from one another
    labels = (np.arange(n) % 10).astype(np.uint8) if labels is None else labels
    for stem, array, packed in zip(stems, (images, labels), gz):
        write_idx(folder / (stem + (".gz" if packed else "")), array)
    return folder


def tag_of(dataset) -> int:
    tags = np.unique(dataset.images[:, 0, 0])
    assert len(tags) == 1
    return int(tags[0])


def test_reads_synthetic_files_from_root(tmp_path):
    make_split(tmp_path / "data", tag=7)
    ds = fashion_mnist("test", root=tmp_path / "data", download=False)
    assert tag_of(ds) == 7
    assert ds.images.shape == (10000, 28, 28) and ds.images.dtype == np.uint8
    assert ds.labels.dtype == np.int64
    assert np.array_equal(ds.labels, np.arange(10000) % 10)
    assert np.array_equal(ds.images[:, 27, 27], np.arange(10000) % 251)
    assert ds.classes == FASHION_MNIST_CLASSES and ds.name == "fashion-mnist-test"
    assert len(ds) == 10000


def test_train_split_reads_the_train_files(tmp_path):
    make_split(tmp_path, tag=3, split="train")
    make_split(tmp_path, tag=4, split="test")
    assert tag_of(fashion_mnist("train", root=tmp_path, download=False)) == 3
    assert tag_of(fashion_mnist("test", root=tmp_path, download=False)) == 4


@pytest.mark.parametrize("gz", [(False, False), (True, False), (False, True)])
def test_uncompressed_files_are_accepted(tmp_path, gz):
    make_split(tmp_path, tag=5, gz=gz)
    assert tag_of(fashion_mnist("test", root=tmp_path, download=False)) == 5


@pytest.mark.parametrize("sub", ["", "fashion-mnist"])
def test_minidl_data_env_and_its_subfolder(tmp_path, monkeypatch, sub):
    make_split(tmp_path / "d" / sub, tag=9)
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "d"))
    assert tag_of(fashion_mnist("test", download=False)) == 9


def test_lookup_order_root_env_system_cache(tmp_path, monkeypatch):
    folders = {
        "root": make_split(tmp_path / "root", tag=1),
        "env": make_split(tmp_path / "env" / "fashion-mnist", tag=2),
        "system": make_split(tmp_path / "system" / "fashion-mnist", tag=3),
        "cache": make_split(tmp_path / "cache" / "fashion-mnist", tag=4),
    }
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "env"))
    for expected, name in enumerate(folders, start=1):
        assert tag_of(fashion_mnist("test", root=tmp_path / "root", download=False)) == expected
        shutil.rmtree(folders[name])


def test_search_dirs_lists_the_documented_order(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "env"))
    assert search_dirs(FASHION_MNIST, tmp_path / "r") == [
        tmp_path / "r", tmp_path / "r" / "fashion-mnist",
        tmp_path / "env", tmp_path / "env" / "fashion-mnist",
        tmp_path / "system" / "fashion-mnist", tmp_path / "cache" / "fashion-mnist"]


def test_a_folder_with_only_half_a_split_is_skipped(tmp_path):
    make_split(tmp_path / "root", tag=1)
    (tmp_path / "root" / "t10k-labels-idx1-ubyte.gz").unlink()
    make_split(tmp_path / "cache" / "fashion-mnist", tag=4)
    assert tag_of(fashion_mnist("test", root=tmp_path / "root", download=False)) == 4


def test_offline_without_files_says_where_it_looked_and_how_to_get_them(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        fashion_mnist("test", root=tmp_path / "nowhere", download=False)
    message = str(err.value)
    for folder in search_dirs(FASHION_MNIST, tmp_path / "nowhere"):
        assert str(folder) in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "MINIDL_DATA" in message
    assert "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" in message
    assert "t10k-images-idx3-ubyte" in message and "download=True" in message
    assert isinstance(err.value, FileNotFoundError)


def test_failed_download_reports_the_failure_and_the_alternatives(tmp_path, monkeypatch):
    def offline(url, dest, sha256, progress=True, size=None):
        raise datasets.DownloadError(f"download: fetching {url} failed (no network)")

    monkeypatch.setattr(datasets, "_download", offline)
    with pytest.raises(DatasetNotFoundError) as err:
        fashion_mnist("test")
    message = str(err.value)
    assert "no network" in message
    for mirror in FASHION_MNIST.mirrors:  # every mirror was tried
        assert mirror + "t10k-images-idx3-ubyte.gz" in message
    assert "dataset-fashion-mnist" in message and "MINIDL_DATA" in message
    assert not (tmp_path / "cache" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").exists()


def file_source(tmp_path, good_sha=True):
    """FASHION_MNIST served from a file:// mirror, after a mirror that does not exist."""
    served = make_split(tmp_path / "served", tag=6)
    sha = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() if good_sha else "0" * 64
           for p in served.iterdir()}
    sizes = {p.name: p.stat().st_size for p in served.iterdir()}
    mirrors = ((tmp_path / "missing").as_uri() + "/", served.as_uri() + "/")
    return dataclasses.replace(FASHION_MNIST, mirrors=mirrors, sha256=sha, sizes=sizes)


def test_a_download_larger_than_the_known_size_is_stopped_and_saves_nothing(tmp_path):
    source = file_source(tmp_path)
    source = dataclasses.replace(source, sizes={k: v - 1 for k, v in source.sizes.items()})
    with pytest.raises(DatasetNotFoundError, match=r"announces \d+ bytes, expected \d+"):
        load_idx_dataset(source, "test", progress=False)
    assert not list((tmp_path / "cache" / "fashion-mnist").iterdir())


def test_download_fetches_checks_and_caches_the_split(tmp_path, monkeypatch):
    source = file_source(tmp_path)
    ds = load_idx_dataset(source, "test", progress=False)
    assert tag_of(ds) == 6
    cached = tmp_path / "cache" / "fashion-mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(f + ".gz" for f in TEST_FILES)

    def no_network(*args, **kwargs):
        raise AssertionError("the cached files should be used")

    monkeypatch.setattr(datasets, "_download", no_network)
    assert tag_of(load_idx_dataset(source, "test")) == 6


def test_download_goes_into_root_when_given(tmp_path):
    ds = load_idx_dataset(file_source(tmp_path), "test", root=tmp_path / "mine", progress=False)
    assert tag_of(ds) == 6 and (tmp_path / "mine" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_download_with_wrong_checksum_saves_nothing(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="SHA-256 mismatch"):
        load_idx_dataset(file_source(tmp_path, good_sha=False), "test", progress=False)
    cached = tmp_path / "cache" / "fashion-mnist"
    assert not cached.exists() or list(cached.iterdir()) == []


def test_wrong_count_is_rejected(tmp_path):
    make_split(tmp_path, tag=1, n=9999)
    with pytest.raises(ValueError, match=r"expected Fashion-MNIST test images uint8 \(10000, 28, 28\)"):
        fashion_mnist("test", root=tmp_path, download=False)


def test_label_out_of_range_is_rejected(tmp_path):
    labels = np.zeros(10000, dtype=np.uint8)
    labels[123] = 10
    make_split(tmp_path, tag=1, labels=labels)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\), found 10"):
        fashion_mnist("test", root=tmp_path, download=False)


def test_labels_of_the_wrong_dtype_are_rejected(tmp_path):
    make_split(tmp_path, tag=1, labels=np.zeros(10000, dtype=np.int32))
    with pytest.raises(ValueError, match="labels uint8"):
        fashion_mnist("test", root=tmp_path, download=False)


def test_unknown_split_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        fashion_mnist("validation", root=tmp_path, download=False)


def test_mnist_uses_its_own_folder_and_digit_classes(tmp_path, monkeypatch):
    make_split(tmp_path / "env" / "fashion-mnist", tag=1)
    make_split(tmp_path / "env" / "mnist", tag=2)
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "env"))
    ds = mnist("test", download=False)
    assert tag_of(ds) == 2 and ds.classes == [str(d) for d in range(10)] and ds.name == "mnist-test"


@pytest.mark.skipif(not REAL_FASHION.is_dir(),
                    reason="real Fashion-MNIST absent: apt-get install dataset-fashion-mnist")
@pytest.mark.parametrize("split, n", [("train", 60000), ("test", 10000)])
def test_real_fashion_mnist(monkeypatch, split, n):
    monkeypatch.setattr(datasets, "SYSTEM_DATA_ROOT", REAL_FASHION.parent)
    ds = fashion_mnist(split, download=False)
    assert ds.images.shape == (n, 28, 28) and ds.images.dtype == np.uint8
    assert np.array_equal(np.bincount(ds.labels, minlength=10), np.full(10, n // 10))
    assert ds.images.min() == 0 and ds.images.max() == 255
    # a real photo set: images differ, and the classes differ in mean brightness
    assert len(np.unique(ds.images[:100].reshape(100, -1), axis=0)) == 100
    means = [ds.images[ds.labels == k].mean() for k in range(10)]
    assert np.ptp(means) > 10


def test_digits_shape_classes_and_scaling():
    from sklearn.datasets import load_digits

    ds = digits()
    assert ds.images.shape == (1797, 8, 8) and ds.images.dtype == np.uint8
    assert ds.images.min() == 0 and ds.images.max() == 255
    assert ds.classes == [str(d) for d in range(10)]
    # 0..16 -> 0..255 loses nothing: scaling back recovers scikit-learn's values
    assert np.array_equal(np.round(ds.images / 255 * 16), load_digits().images)
    assert np.array_equal(ds.labels, load_digits().target)


def test_digits_split_is_deterministic_disjoint_and_stratified():
    full = digits()
    train, test = digits("train"), digits("test")
    assert np.array_equal(train.images, digits("train", seed=0).images)
    assert len(train) + len(test) == len(full)
    assert abs(len(test) / len(full) - 0.2) < 0.01
    counts, test_counts = np.bincount(full.labels), np.bincount(test.labels, minlength=10)
    assert np.all(np.abs(test_counts - 0.2 * counts) <= 0.5)
    flat = lambda d: {row.tobytes() + bytes([lab]) for row, lab in zip(d.images, d.labels)}
    assert not flat(train) & flat(test)
    assert flat(train) | flat(test) == flat(full)
    other = digits("test", seed=1)
    assert not np.array_equal(other.labels, test.labels) or not np.array_equal(other.images, test.images)
    assert len(digits("test", test_fraction=0.5)) == sum(int(round(c / 2)) for c in counts)


def test_stratified_split_partitions_the_indices():
    labels = np.repeat(np.arange(3), [10, 5, 1])
    train, test = stratified_split(labels, 0.2, seed=3)
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(16))
    assert np.array_equal(np.bincount(labels[test], minlength=3), [2, 1, 0])


def test_to_float_scales_and_adds_a_channel_axis():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    x = to_float(images)
    assert x.shape == (1, 1, 2, 2) and x.dtype == np.float32
    assert x[0, 0, 0, 0] == 0.0 and x[0, 0, 0, 1] == 1.0
    np.testing.assert_allclose(x[0, 0, 1], [0.2, 0.4], rtol=1e-6)
    rgb = np.zeros((2, 3, 4, 4), dtype=np.uint8)
    assert to_float(rgb).shape == (2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"to_float: expected uint8.*float64 \(2, 2\)"):
        to_float(np.zeros((2, 2)))
