"""`python -m minidl classify MODEL IMAGE` end to end on small inputs, and resnet20's docstring
example of loading converted weights."""
import re

import numpy as np
import pytest
from PIL import Image

import minidl
from minidl.__main__ import main
from minidl.cli.classify import load_image
from minidl.models import CIFAR10_CLASSES, normalize, resnet20
from minidl.pretrained import locate


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 256, (40, 52, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def weights(tmp_path):
    model = resnet20()
    rng = np.random.default_rng(1)
    state = {k: rng.standard_normal(v.shape).astype(v.dtype) * 0.3 for k, v in model.state_dict().items()}
    state = {k: np.abs(v) + 0.5 if k.endswith("running_var") else v for k, v in state.items()}
    return minidl.save(state, tmp_path / "resnet20.npz")


def expected_probabilities(weights, image):
    model = resnet20()
    model.load_state_dict(minidl.load(weights))
    with minidl.no_grad():
        logits = model.eval()(minidl.Tensor(normalize(load_image(image, 32)))).data[0]
    e = np.exp(logits - logits.max())
    return e / e.sum()


def test_classify_prints_the_models_top_classes_with_their_probabilities(image, weights, capsys):
    assert main(["classify", "resnet20", str(image), "--weights", str(weights), "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    probs = expected_probabilities(weights, image)
    top = np.argsort(-probs)[:3]
    assert len(lines) == 3
    for line, k in zip(lines, top):
        name, share = re.fullmatch(r"\s*(\w+)\s+([\d.]+)%", line).groups()
        assert name == CIFAR10_CLASSES[k]
        assert abs(float(share) - 100 * probs[k]) < 0.006


def test_load_image_makes_rgb_of_the_models_side_in_unit_range(tmp_path):
    path = tmp_path / "gray.png"
    Image.fromarray(np.full((10, 20), 255, np.uint8)).save(path)
    x = load_image(path, 32)
    assert x.shape == (32, 32, 3) and x.dtype == np.float32 and np.allclose(x, 1.0)


def test_a_model_without_published_weights_asks_for_weights(image, capsys):
    assert main(["classify", "resnet110", str(image)]) == 2
    assert "pass --weights FILE" in capsys.readouterr().err


def test_torchvisions_weights_not_on_disk_end_in_one_message_with_the_address(image, tmp_path, capsys,
                                                                              monkeypatch):
    monkeypatch.setattr(locate, "SHARED_DIR", tmp_path / "no-shared")
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MINIDL_WEIGHTS", str(tmp_path))
    assert main(["classify", "mobilenet_v2", str(image)]) == 2
    err = capsys.readouterr().err
    assert "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth" in err
    assert "MINIDL_WEIGHTS" in err and "Traceback" not in err and len(err.splitlines()) <= 8


def test_missing_image_and_offline_weights_end_in_one_message_not_a_traceback(image, tmp_path, capsys,
                                                                               without_published_weights):
    assert main(["classify", "resnet20", str(tmp_path / "none.png")]) == 2
    assert "none.png" in capsys.readouterr().err
    without_published_weights(None)
    assert main(["classify", "resnet20", str(image)]) == 2
    err = capsys.readouterr().err
    assert "MINIDL_WEIGHTS" in err and "Traceback" not in err


def test_resnet20_docstring_example_runs_on_converted_weights(weights, monkeypatch):
    """The example in resnet20's docstring, run as written, prints CIFAR-10 class names."""
    code = "\n".join(line[8:] for line in resnet20.__doc__.splitlines()
                     if line.startswith("        "))
    monkeypatch.chdir(weights.parent)
    images = np.random.default_rng(2).random((2, 32, 32, 3)).astype(np.float32)
    printed = []
    exec(code, {"images": images, "print": printed.append})
    assert len(printed) == 1 and len(printed[0]) == 2 and set(printed[0]) <= set(CIFAR10_CLASSES)
