"""`python -m minidl evaluate` for every kind of zoo model and weights: the published weights
found in MINIDL_WEIGHTS (a converted copy) or the original checkpoint as --weights, an ImageNet
model on digits resized batch by batch, and one message when the weights are missing offline."""
import os
import re
from pathlib import Path

import numpy as np
import pytest

import minidl
from minidl import data as D
from minidl.__main__ import main
from minidl.models.zoo import build_model

WEIGHTS = Path(os.environ.get("MINIDL_WEIGHTS") or Path(__file__).resolve().parents[3] / "shared" / "pretrained")


@pytest.fixture
def offline(tmp_path, without_published_weights):
    without_published_weights(tmp_path)
    return tmp_path


def random_state(arch, seed=0, **kwargs):
    model = build_model(arch, **kwargs)
    rng = np.random.default_rng(seed)
    state = {k: rng.standard_normal(v.shape).astype(v.dtype) * 0.3 for k, v in model.state_dict().items()}
    return {k: np.abs(v) + 0.5 if k.endswith("running_var") else v for k, v in state.items()}


def printed_accuracy(text):
    return float(re.search(r"accuracy (\d+\.\d+)%", text).group(1)) / 100


def accuracy_by_hand(arch, state, side, limit, **kwargs):
    """The digits test images as evaluate should prepare them: [0, 1], bilinear to the model's
    side, the training split's mean and std, gray copied to RGB; then the model's argmax."""
    train, test = D.digits("train"), D.digits("test")
    keep = np.sort(np.random.default_rng(1).permutation(len(test))[:limit])   # --limit, seed 0
    full = D.to_float(train.images)
    x = D.Resize(side)(D.to_float(test.images[keep]))
    x = np.repeat((x - full.mean()) / full.std(), 3, axis=1).astype(np.float32)
    model = build_model(arch, **kwargs)
    model.load_state_dict(state)
    with minidl.no_grad():
        predicted = model.eval()(minidl.Tensor(x)).numpy().argmax(axis=1)
    return float((predicted == test.labels[keep]).mean())


def test_published_weights_found_as_a_converted_copy_in_minidl_weights(offline, capsys):
    state = random_state("resnet20")
    minidl.save(state, offline / "resnet20.npz")
    assert main(["evaluate", "--model", "resnet20", "--dataset", "digits", "--limit", "60"]) == 0
    text = capsys.readouterr().out
    assert "published resnet20 weights" in text and "60 images" in text
    assert printed_accuracy(text) == pytest.approx(accuracy_by_hand("resnet20", state, 32, 60), abs=5e-5)


def test_an_imagenet_model_is_fed_digits_resized_batch_by_batch(tmp_path, capsys):
    state = random_state("mobilenet_v2", num_classes=10)
    minidl.save(state, tmp_path / "mnv2-digits.npz")
    assert main(["evaluate", "--model", "mobilenet_v2", "--dataset", "digits", "--limit", "20",
                 "--weights", str(tmp_path / "mnv2-digits.npz")]) == 0
    accuracy = printed_accuracy(capsys.readouterr().out)
    assert accuracy == pytest.approx(accuracy_by_hand("mobilenet_v2", state, 224, 20, num_classes=10), abs=5e-5)


def test_the_original_checkpoint_is_accepted_as_weights(capsys):
    path = WEIGHTS / "resnet20-12fca82f.th"
    if not path.is_file():
        pytest.skip(f"the published checkpoint {path} is not here (set MINIDL_WEIGHTS to its folder)")
    assert main(["evaluate", "--model", "resnet20", "--dataset", "digits", "--limit", "20",
                 "--weights", str(path)]) == 0
    assert "20 images" in capsys.readouterr().out


def test_missing_weights_offline_are_one_message_without_a_traceback(offline, capsys):
    assert main(["evaluate", "--model", "resnet20", "--dataset", "digits", "--limit", "10"]) == 2
    err = capsys.readouterr().err
    assert "MINIDL_WEIGHTS" in err and "http://127.0.0.1:9/resnet20-12fca82f.th" in err
    assert "Traceback" not in err and len(err.splitlines()) <= 8
    assert main(["evaluate", "--model", "vgg16", "--dataset", "digits", "--limit", "10"]) == 2
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in capsys.readouterr().err
