"""The train / evaluate / demo commands, run in-process on the bundled digits (offline)."""
import json
import re

import numpy as np
import pytest

import minidl
from minidl.__main__ import main
from minidl.cli.train import first_layer_filters, prepare_data
from minidl.models.zoo import build_model
from minidl.train import History

RUN_FILES = ("history.json", "learning_curves.png", "confusion_matrix.png", "filters.png",
             "samples.png", "best.npz")


@pytest.fixture(scope="module")
def lab6_run(tmp_path_factory):
    """One quick `train lab6 --dataset digits` run (8x8 digits resized to the lab's 28x28)."""
    out = tmp_path_factory.mktemp("runs") / "lab6"
    code = main(["train", "lab6", "--dataset", "digits", "--limit", "300", "--epochs", "1",
                 "--batch-size", "64", "--augment", "--out", str(out), "--quiet"])
    return code, out


def test_train_writes_every_file(lab6_run):
    code, out = lab6_run
    assert code == 0
    for name in RUN_FILES:
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, name
    history = History.load(out / "history.json")
    assert len(history) == 1 and len(history.iteration_loss) == 5     # 270 images / 64
    meta = history.meta
    assert meta["settings"]["model"] == "lab6" and meta["settings"]["augment"] is True
    assert meta["image_shape"] == [1, 28, 28]
    cm = np.array(meta["test_confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 300
    assert meta["test_accuracy"] == pytest.approx(np.trace(cm) / 300)


def test_best_npz_holds_lab6_weights(lab6_run):
    _, out = lab6_run
    model = build_model("lab6", 10, 1, 28)
    model.load_state_dict(minidl.load(out / "best.npz"))     # strict: every key and shape fits


def test_evaluate_reproduces_the_test_accuracy_of_train(lab6_run, capsys):
    _, out = lab6_run
    capsys.readouterr()
    code = main(["evaluate", "--model", "lab6", "--dataset", "digits", "--limit", "300",
                 "--weights", str(out / "best.npz")])
    assert code == 0
    text = capsys.readouterr().out
    accuracy = float(re.search(r"accuracy (\d+\.\d+)%", text).group(1)) / 100
    expected = json.loads((out / "history.json").read_text())["meta"]["test_accuracy"]
    assert accuracy == pytest.approx(expected, abs=5e-5)       # printed with 2 decimals of %
    assert len(re.findall(r"^\s+\d\s+\d+\.\d+%", text, flags=re.M)) == 10   # one line per class


def test_evaluate_refuses_weights_of_another_model(lab6_run, capsys):
    _, out = lab6_run
    code = main(["evaluate", "--model", "digits-cnn", "--dataset", "digits",
                 "--weights", str(out / "best.npz")])
    assert code == 2
    err = capsys.readouterr().err
    assert "does not hold weights for --model digits-cnn" in err and "shape mismatch" in err


def test_prepare_data_splits_and_normalises():
    data = prepare_data("digits", "digits-cnn", limit=200, seed=0, val_fraction=0.25)
    (x_fit, y_fit), (x_val, y_val), (x_test, y_test) = data.train, data.val, data.test
    assert len(y_fit) + len(y_val) == 200 and len(y_test) == 200
    assert abs(len(y_val) - 50) <= 10                          # stratified: about a quarter
    assert x_fit.shape[1:] == (1, 8, 8) and x_fit.dtype == np.float32
    full = minidl.data.to_float(minidl.data.digits("train").images)
    assert data.mean == pytest.approx(full.mean()) and data.std == pytest.approx(full.std())
    raw = (full - data.mean) / data.std                        # fit images come from it
    rows = {r.tobytes() for r in raw.astype(np.float32).reshape(len(raw), -1)}
    assert all(r.tobytes() in rows for r in x_fit.reshape(len(x_fit), -1)[:20])


def test_first_layer_filters_of_an_mlp_are_image_shaped():
    model = build_model("mlp", 10, 1, 8)
    weights, name = first_layer_filters(model, (1, 8, 8))
    assert weights.shape == (256, 1, 8, 8) and name == "1"
    np.testing.assert_array_equal(weights[3].ravel(), model[1].weight.numpy()[3])


def test_demo_quick_prints_an_accuracy(tmp_path, capsys):
    code = main(["demo", "--quick", "--out", str(tmp_path / "demo")])
    assert code == 0
    text = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy (\d+\.\d+)%", text).group(1)) / 100
    assert accuracy > 0.5                                      # chance is 0.1
    for name in RUN_FILES:
        assert (tmp_path / "demo" / name).is_file()
