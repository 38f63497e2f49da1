"""torchvision's ImageNet checkpoints of the zoo: found on disk the way users keep them
(MINIDL_WEIGHTS holding the original file, checked by the SHA-256 prefix in its name, or a
converted .npz / .safetensors), never downloaded; without one, the short message names the
folders, MINIDL_WEIGHTS and download.pytorch.org's address. Also read_weights/load_weights."""
import hashlib

import numpy as np
import pytest

import minidl
from minidl.models import mobilenet_v2
from minidl.models.zoo import ARCHITECTURES
from minidl.pretrained import (TORCHVISION, WeightsNotFoundError, guess_arch, known_name_mismatch,
                               load_pretrained, load_weights, locate, pretrained_path)


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr(locate, "SHARED_DIR", tmp_path / "no-shared")
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MINIDL_WEIGHTS", str(folder))
    return folder


def random_state(model, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in model.state_dict().items()}


def test_every_torchvision_entry_is_a_zoo_architecture_with_a_hash_prefix_in_its_name():
    assert set(TORCHVISION) <= set(ARCHITECTURES)
    for arch, published in TORCHVISION.items():
        assert published.arch == arch and len(published.sha256) == 8
        assert published.file.endswith(f"-{published.sha256}.pth")
        assert published.url == "https://download.pytorch.org/models/" + published.file
        assert guess_arch(published.file, ARCHITECTURES) == arch


def test_without_a_copy_one_message_names_the_folders_the_variable_and_the_address(weights_dir):
    with pytest.raises(WeightsNotFoundError) as err:
        load_pretrained(mobilenet_v2(), "mobilenet_v2")
    message = str(err.value)
    assert "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth" in message
    assert "MINIDL_WEIGHTS" in message and str(weights_dir) in message
    assert "mobilenet_v2.npz" in message and len(message.splitlines()) <= 8
    assert err.value.__cause__ is None


@pytest.mark.parametrize("name", ["mobilenet_v2.npz", "mobilenet_v2-b0353104.npz"])
def test_a_converted_copy_in_minidl_weights_is_used(weights_dir, name):
    state = random_state(mobilenet_v2())
    minidl.save(state, weights_dir / name)
    model = load_pretrained(mobilenet_v2(), "mobilenet_v2")
    np.testing.assert_array_equal(model.state_dict()["classifier.1.weight"], state["classifier.1.weight"])


def test_an_original_file_counts_when_its_sha256_begins_with_the_published_prefix(weights_dir, monkeypatch):
    data = b"any bytes"
    prefix = hashlib.sha256(data).hexdigest()[:8]
    entry = TORCHVISION["mobilenet_v2"]._replace(file=f"mobilenet_v2-{prefix}.pth", sha256=prefix)
    monkeypatch.setitem(TORCHVISION, "mobilenet_v2", entry)
    (weights_dir / entry.file).write_bytes(data)
    assert pretrained_path("mobilenet_v2") == weights_dir / entry.file
    assert known_name_mismatch(weights_dir / entry.file) is None
    (weights_dir / entry.file).write_bytes(b"other bytes")
    assert "is named like the published mobilenet_v2" in known_name_mismatch(weights_dir / entry.file)
    with pytest.raises(minidl.download.ChecksumError):
        pretrained_path("mobilenet_v2")


def test_load_weights_reads_any_kind_and_refuses_weights_of_another_model(tmp_path):
    pytest.importorskip("safetensors", reason="the .safetensors case needs the optional package")
    state = random_state(mobilenet_v2(num_classes=3), seed=1)
    for name in ("w.npz", "w.safetensors"):
        minidl.save({"module." + k: v for k, v in state.items()}, tmp_path / name)  # DataParallel's names
        model = load_weights(mobilenet_v2(num_classes=3), tmp_path / name)
        np.testing.assert_array_equal(model.state_dict()["features.0.0.weight"], state["features.0.0.weight"])
    minidl.save({"model": state, "epoch": np.int64(3)}, tmp_path / "checkpoint.npz")   # fit's checkpoint
    load_weights(mobilenet_v2(num_classes=3), tmp_path / "checkpoint.npz")
    with pytest.raises(ValueError, match=r"does not hold weights for MobileNetV2(.|\n)*shape mismatch"):
        load_weights(mobilenet_v2(), tmp_path / "w.npz")
