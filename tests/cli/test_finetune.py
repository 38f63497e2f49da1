"""`python -m minidl finetune MODEL --dataset NAME --mode features|head|all` end to end on a
few digits with ResNet-20: the run folder of `train`, what each mode lets learn, evaluate and
predict reading the run, and one message for what cannot work. Seconds, not minutes."""
import json
import re

import numpy as np
import pytest
from PIL import Image

import minidl
from minidl.__main__ import main
from minidl.models import resnet20

from .epochs import interrupt_in_epoch, record_epochs

RUN_FILES = ("history.json", "learning_curves.png", "confusion_matrix.png", "filters.png",
             "samples.png", "best.npz")
QUICK = ["--dataset", "digits", "--limit", "100", "--epochs", "1", "--batch-size", "32", "--quiet"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """'Published' ResNet-20 weights (random, with non-trivial BatchNorm statistics) as the
    converted copy in a MINIDL_WEIGHTS folder, and the network absent."""
    folder = tmp_path_factory.mktemp("weights")
    model = resnet20()
    rng = np.random.default_rng(0)
    state = {k: (np.abs(rng.standard_normal(v.shape)) + 0.5 if k.endswith("running_var")
                 else rng.standard_normal(v.shape) * 0.2).astype(v.dtype) for k, v in model.state_dict().items()}
    minidl.save(state, folder / "resnet20.npz")
    return folder, state


@pytest.fixture
def offline(source, without_published_weights):
    without_published_weights(source[0])
    return source[1]


def finetune(tmp_path, mode, *extra):
    out = tmp_path / mode
    assert main(["finetune", "resnet20", "--mode", mode, *QUICK, "--out", str(out), *extra]) == 0
    for name in RUN_FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    return out, minidl.load(out / "best.npz"), json.loads((out / "history.json").read_text())["meta"]


def body(state):
    return {k: v for k, v in state.items() if not k.startswith("linear.")}


def test_features_and_head_modes_train_only_the_new_head_and_agree_without_augmentation(offline, tmp_path):
    _, features, meta = finetune(tmp_path, "features")
    _, head, _ = finetune(tmp_path, "head")
    assert meta["mode"] == "features" and meta["source"] == "the published resnet20 weights"
    assert meta["trainable_parameters"] == 64 * 10 + 10 and meta["classes"] == [str(d) for d in range(10)]
    for state in (features, head):       # the body, BatchNorm statistics included, is untouched
        for key, value in body(offline).items():
            np.testing.assert_array_equal(state[key], value, err_msg=key)
    # the same head on the same fixed features: computed once, or by the frozen body every batch
    for key in ("linear.weight", "linear.bias"):
        np.testing.assert_allclose(features[key], head[key], atol=1e-5)
        assert not np.allclose(features[key], resnet20().state_dict()[key])


def test_all_mode_trains_every_layer_the_head_faster_and_evaluate_and_predict_read_the_run(
        offline, tmp_path, capsys):
    out, state, meta = finetune(tmp_path, "all", "--optimizer", "sgd", "--lr", "0.01", "--head-lr-mult", "5")
    assert meta["head_lr"] == pytest.approx(0.05) and meta["trainable_parameters"] == meta["num_parameters"]
    assert not np.array_equal(state["conv1.weight"], offline["conv1.weight"])
    assert not np.array_equal(state["bn1.running_mean"], offline["bn1.running_mean"])
    capsys.readouterr()
    assert main(["evaluate", "--model", "resnet20", "--dataset", "digits", "--limit", "100",
                 "--weights", str(out / "best.npz")]) == 0
    accuracy = float(re.search(r"accuracy (\d+\.\d+)%", capsys.readouterr().out).group(1)) / 100
    assert accuracy == pytest.approx(meta["test_accuracy"], abs=5e-5)
    image = tmp_path / "seven.png"
    Image.fromarray(np.tile(np.uint8([0, 255]), (8, 4))).save(image)
    assert main(["predict", "resnet20", str(image), "--weights", str(out / "best.npz"), "--top", "10",
                 "--out", str(tmp_path / "p.png")]) == 0
    names = re.findall(r"^  (\S+)\s+[\d.]+%$", capsys.readouterr().out, flags=re.M)
    assert sorted(names) == [str(d) for d in range(10)]       # the run's classes


def test_what_cannot_work_is_one_message(offline, tmp_path, monkeypatch, capsys):
    assert main(["finetune", "resnet20", "--mode", "features", "--augment", *QUICK]) == 2
    assert "--augment has no effect" in capsys.readouterr().err
    assert main(["finetune", "resnet20", "--mode", "all", "--random-init", "--weights", "x.npz", *QUICK]) == 2
    assert "exclude each other" in capsys.readouterr().err
    monkeypatch.setenv("MINIDL_WEIGHTS", str(tmp_path))         # no copy anywhere, offline
    assert main(["finetune", "resnet20", "--mode", "head", *QUICK, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "MINIDL_WEIGHTS" in err and "http://127.0.0.1:9/" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("mode", ["features", "all"])
def test_ctrl_c_then_resume_finishes_the_very_run_an_uninterrupted_one_gives(offline, tmp_path, monkeypatch,
                                                                           capsys, mode):
    args = ["finetune", "resnet20", "--mode", mode, "--dataset", "digits", "--limit", "100", "--epochs", "2",
            "--batch-size", "32", "--quiet"]
    assert main(args + ["--out", str(tmp_path / "full")]) == 0
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, 2)
        assert main(args + ["--out", str(out)]) == 130
    assert "--resume" in capsys.readouterr().err and (out / "checkpoint.npz").is_file()
    assert not (out / "best.npz").exists()
    with monkeypatch.context() as patch:
        epochs_run = record_epochs(patch)
        assert main(args + ["--out", str(out), "--resume"]) == 0
    assert epochs_run == [2]                                    # epoch 1 came from the checkpoint
    resumed, full = minidl.load(out / "best.npz"), minidl.load(tmp_path / "full" / "best.npz")
    assert resumed.keys() == full.keys()
    for key in full:
        np.testing.assert_array_equal(resumed[key], full[key], err_msg=key)


def test_resume_without_a_checkpoint_is_one_message(offline, tmp_path, capsys):
    out = tmp_path / "none"
    assert main(["finetune", "resnet20", "--mode", "head", *QUICK, "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "--resume: no" in err and "Traceback" not in err and not out.exists()
