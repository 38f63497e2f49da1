"""`train resnet20 --dataset fashion-mnist` works like `train lab6`: the CIFAR ResNet's 3x32x32
input is made from 28x28 gray images (zero-padded, the gray channel copied to three). Runs on
a stand-in Fashion-MNIST written to a temporary MINIDL_DATA folder (offline)."""
import json
import re

import numpy as np
import pytest

import minidl
from minidl.__main__ import main
from minidl.cli.train import channel_transform, prepare_data, size_transform
from minidl.data import GrayToRGB, PadTo, Resize, write_idx
from minidl.models.zoo import build_model


@pytest.fixture(scope="module")
def fake_fashion(tmp_path_factory):
    """Full-size Fashion-MNIST files (60000/10000 images) of class-dependent bars plus noise."""
    root = tmp_path_factory.mktemp("data")
    (root / "fashion-mnist").mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 60000), ("t10k", 10000)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 40, (n, 28, 28), dtype=np.uint8)
        for k in range(10):                               # class k: a bright row band at 2k+4
            images[labels == k, 2 * k + 4:2 * k + 7, 4:24] = 220
        write_idx(root / "fashion-mnist" / f"{split}-images-idx3-ubyte", images)
        write_idx(root / "fashion-mnist" / f"{split}-labels-idx1-ubyte", labels)
    with pytest.MonkeyPatch.context() as m:
        m.setenv("MINIDL_DATA", str(root))
        yield root


def test_images_are_padded_or_resized_and_gray_made_rgb_where_the_model_needs_it():
    assert isinstance(size_transform("resnet20", 28), PadTo)     # 28 -> 32: a 2-pixel border
    assert isinstance(size_transform("resnet20", 8), Resize)     # 8 -> 32: too small to pad
    assert isinstance(size_transform("lab6", 8), Resize)
    assert size_transform("lab6", 28) is None and size_transform("mlp", 8) is None
    assert isinstance(channel_transform("resnet20", 1), GrayToRGB)
    assert channel_transform("resnet20", 3) is None and channel_transform("lab6", 1) is None
    with pytest.raises(ValueError, match="resnet20 takes 3-channel images, the dataset has 2"):
        channel_transform("resnet20", 2)


def test_prepared_fashion_mnist_for_resnet20_is_padded_then_normalised(fake_fashion):
    data = prepare_data("fashion-mnist", "resnet20", limit=200, seed=0)
    x = data.train[0]
    assert data.image_shape == (1, 32, 32) and x.dtype == np.float32
    black = np.float32((0.0 - data.mean) / data.std)                 # the padding, normalised
    border = np.concatenate([x[:, :, :2].ravel(), x[:, :, -2:].ravel(),
                             x[:, :, :, :2].ravel(), x[:, :, :, -2:].ravel()])
    np.testing.assert_array_equal(border, black)
    full = PadTo(32)(minidl.data.to_float(minidl.data.fashion_mnist("train").images))
    assert (data.mean, data.std) == (float(full.mean()), float(full.std()))   # the whole split's


def test_train_resnet20_on_fashion_mnist_then_evaluate_its_weights(fake_fashion, tmp_path, capsys):
    out = tmp_path / "resnet20"
    code = main(["train", "resnet20", "--dataset", "fashion-mnist", "--epochs", "1",
                 "--limit", "256", "--batch-size", "64", "--out", str(out), "--quiet"])
    assert code == 0
    history = json.loads((out / "history.json").read_text())
    assert history["meta"]["image_shape"] == [1, 32, 32]
    assert len(history["iteration_loss"]) == 4                       # 231 images / 64
    model = build_model("resnet20", 10)                              # 3-channel input
    model.load_state_dict(minidl.load(out / "best.npz"))             # strict
    for name in ("learning_curves.png", "confusion_matrix.png", "filters.png", "samples.png"):
        assert (out / name).stat().st_size > 0
    capsys.readouterr()
    code = main(["evaluate", "--model", "resnet20", "--dataset", "fashion-mnist", "--limit", "256",
                 "--weights", str(out / "best.npz")])
    assert code == 0
    accuracy = float(re.search(r"accuracy (\d+\.\d+)%", capsys.readouterr().out).group(1)) / 100
    assert accuracy == pytest.approx(history["meta"]["test_accuracy"], abs=5e-5)
