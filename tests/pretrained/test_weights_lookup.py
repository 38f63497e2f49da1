"""Pretrained weights found the way users keep them (MINIDL_WEIGHTS holding a converted .npz or
.safetensors), and one short message, naming MINIDL_WEIGHTS, when none is found offline."""
import importlib.util

import numpy as np
import pytest

import minidl
from minidl.models import resnet20
from minidl.pretrained import WeightsNotFoundError, pretrained_path


@pytest.fixture
def offline(tmp_path, without_published_weights):
    """No shared copy, an empty cache, MINIDL_WEIGHTS at an empty folder, and a download URL
    that refuses connections (the network absent)."""
    weights = tmp_path / "weights"
    weights.mkdir()
    without_published_weights(weights)
    return weights


def random_resnet20_state(seed=0):
    model = resnet20()
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in model.state_dict().items()}


def test_offline_without_weights_one_message_says_where_it_looked_and_what_to_set(offline, tmp_path):
    with pytest.raises(WeightsNotFoundError) as err:
        resnet20(pretrained=True)
    message = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert "MINIDL_WEIGHTS" in message and str(offline) in message
    assert str(tmp_path / "cache" / "weights") in message
    assert "http://127.0.0.1:9/resnet20-12fca82f.th" in message and "resnet20.npz" in message
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert len(message.splitlines()) <= 8
    assert not any((tmp_path / "cache").rglob("*.th"))


def test_download_false_gives_the_same_message(offline):
    with pytest.raises(WeightsNotFoundError, match=r"download=False(.|\n)*MINIDL_WEIGHTS"):
        pretrained_path("resnet20", download=False)


@pytest.mark.parametrize("name", ["resnet20.npz", "resnet20-12fca82f.npz", "resnet20.safetensors"])
def test_a_converted_copy_in_minidl_weights_is_loaded(offline, name):
    if name.endswith(".safetensors") and importlib.util.find_spec("safetensors") is None:
        pytest.skip("the optional 'safetensors' package is not installed")
    state = random_resnet20_state()
    minidl.save(state, offline / name)
    assert pretrained_path("resnet20") == offline / name
    model = resnet20(pretrained=True)
    for key, value in state.items():
        np.testing.assert_array_equal(model.state_dict()[key], value)


def test_a_converted_copy_for_another_model_is_refused_by_the_strict_load(offline):
    state = random_resnet20_state()
    state["linear.weight"] = state["linear.weight"][:5]
    minidl.save(state, offline / "resnet20.npz")
    with pytest.raises(ValueError, match="linear.weight"):
        resnet20(pretrained=True)
