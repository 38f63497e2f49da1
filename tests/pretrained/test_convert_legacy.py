"""DenseNet checkpoints from before PyTorch 0.4 ('denselayer1.norm.1.weight' for today's
'denselayer1.norm1.weight', as torchvision's published densenet121-a639ec97.pth) convert and
load without --rename: the converter renames them as torchvision's loader does, and only
names the model lacks into names it has."""
from collections import OrderedDict

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.__main__ import main
from minidl.models import densenet121
from minidl.pretrained import convert_state_dict
from minidl.pretrained.convert import rename_legacy


def legacy(key: str) -> str:
    """Today's name -> the pre-0.4 one (the inverse of the rename under test, written out)."""
    if "denselayer" not in key:
        return key
    for part in ("norm1", "norm2", "conv1", "conv2"):
        key = key.replace(f".{part}.", f".{part[:-1]}.{part[-1]}.")
    return key


@pytest.fixture(scope="module")
def legacy_state():
    model = densenet121()
    rng = np.random.default_rng(0)
    state = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in model.state_dict().items()}
    return state, OrderedDict((legacy(k), v) for k, v in state.items())


def test_the_legacy_names_are_the_ones_torchvision_renames(legacy_state):
    state, old = legacy_state
    assert sum(".norm.1." in k for k in old) == 58 * 4 and sum(".conv.2." in k for k in old) == 58
    assert "features.denseblock1.denselayer1.norm.1.running_var" in old
    assert [rename_legacy(k) for k in old] == list(state)


def test_convert_state_dict_renames_legacy_keys_and_fills_every_entry(legacy_state):
    state, old = legacy_state
    converted, report = convert_state_dict(old, densenet121())
    assert report.ok, str(report)
    assert len(report.renamed) == 58 * 10        # 2 BatchNorms x 4 + 2 convs, per dense layer
    for key, value in state.items():
        np.testing.assert_array_equal(converted[key], value)


def test_a_key_the_model_has_is_never_renamed():
    inner = nn.Sequential(OrderedDict(norm=nn.Sequential(nn.ReLU(), nn.BatchNorm1d(2))))
    model = nn.Sequential(OrderedDict(denselayer1=inner))     # 'denselayer1.norm.1.weight' is real
    state = {k: np.full(v.shape, 2.0, np.float32) for k, v in model.state_dict().items()}
    assert "denselayer1.norm.1.weight" in state
    converted, report = convert_state_dict(state, model)
    assert report.ok and not report.renamed and list(converted) == list(state)


def test_the_convert_command_takes_a_legacy_densenet_checkpoint(legacy_state, tmp_path, capsys):
    pytest.importorskip("safetensors", reason="the checkpoint is written as .safetensors (the extra)")
    state, old = legacy_state
    minidl.save(dict(old), tmp_path / "densenet121-legacy.safetensors")
    assert main(["convert", str(tmp_path / "densenet121-legacy.safetensors"),
                 str(tmp_path / "densenet121.npz")]) == 0, capsys.readouterr().err
    assert "conversion into densenet121: OK" in capsys.readouterr().out
    model = densenet121()
    model.load_state_dict(minidl.load(tmp_path / "densenet121.npz"))      # strict
    np.testing.assert_array_equal(model.state_dict()["features.denseblock4.denselayer16.conv2.weight"],
                                  state["features.denseblock4.denselayer16.conv2.weight"])
