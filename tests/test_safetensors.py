"""safetensors through minidl.save/load and `python -m minidl convert` (the optional extra
'.[safetensors]'): round trips, files of the package's own writing, damaged files refused."""
import struct
import sys

import numpy as np
import pytest

import minidl
from minidl.__main__ import main
from minidl.models import resnet20
from minidl.serialization import SafetensorsFileError, load_safetensors

st_numpy = pytest.importorskip("safetensors.numpy", reason="the optional 'safetensors' package is not "
                                                        "installed (pip install -e '.[safetensors]')")


def random_state(model, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in model.state_dict().items()}


def test_a_models_state_dict_round_trips_through_minidl_save_and_load(tmp_path):
    model = resnet20()
    model.load_state_dict(random_state(model))
    path = minidl.save(model.state_dict(), tmp_path / "r20.safetensors")
    assert path.suffix == ".safetensors" and path.read_bytes()[8:9] == b"{"
    loaded = minidl.load(path)
    assert set(loaded) == set(model.state_dict())
    for key, value in model.state_dict().items():
        assert loaded[key].dtype == value.dtype
        np.testing.assert_array_equal(loaded[key], value)
    resnet20().load_state_dict(loaded, strict=True)


def test_files_interoperate_with_the_safetensors_package(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], np.int64),
              "c": np.zeros((0, 4), np.float16)}
    st_numpy.save_file(arrays, str(tmp_path / "theirs.safetensors"))
    ours = minidl.load(tmp_path / "theirs.safetensors")
    for key, value in arrays.items():
        assert ours[key].dtype == value.dtype and ours[key].shape == value.shape
        np.testing.assert_array_equal(ours[key], value)
    minidl.save(arrays, tmp_path / "ours.safetensors")
    theirs = st_numpy.load_file(str(tmp_path / "ours.safetensors"))
    np.testing.assert_array_equal(theirs["a"], arrays["a"])


def damaged(tmp_path, name, data):
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(data)
    return path


def test_truncated_and_malformed_files_are_refused_with_the_file_and_the_problem(tmp_path):
    good = tmp_path / "good.safetensors"
    minidl.save({"w": np.ones((64, 64), np.float32), "b": np.ones(64, np.float32)}, good)
    data = good.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    cases = {
        "short": (data[:5], "too short"),
        "cut": (data[:len(data) - 100], "truncated or damaged"),
        "huge_header": (struct.pack("<Q", 2**40) + data[8:], "does not fit"),
        "not_json": (struct.pack("<Q", 4) + b"\xff\xfe{]" + data[8 + n:], "not valid JSON"),
        "list": (struct.pack("<Q", 2) + b"[]", "expected an object"),
        "no_offsets": (struct.pack("<Q", 31) + b'{"x": {"dtype": "F32", "s": 1}}', "lacks a dtype"),
    }
    for name, (bad, message) in cases.items():
        path = damaged(tmp_path, name, bad)
        with pytest.raises(SafetensorsFileError, match=message) as err:
            minidl.load(path)
        assert str(path) in str(err.value), name


def test_a_body_that_does_not_match_the_dtype_and_shape_is_refused(tmp_path):
    header = b'{"w": {"dtype": "F32", "shape": [3, 3], "data_offsets": [0, 8]}}'
    path = damaged(tmp_path, "mismatch", struct.pack("<Q", len(header)) + header + bytes(8))
    with pytest.raises(SafetensorsFileError, match="mismatch.safetensors"):
        load_safetensors(path)


def test_only_flat_mappings_of_arrays_can_be_written(tmp_path):
    with pytest.raises(TypeError, match="'epoch' is a int, expected an array"):
        minidl.save({"w": np.ones(2, np.float32), "epoch": 3}, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_convert_reads_a_safetensors_checkpoint_and_writes_npz_or_safetensors(tmp_path, capsys):
    model = resnet20()
    state = random_state(model, seed=3)
    st_numpy.save_file({"module." + k: v for k, v in state.items()}, str(tmp_path / "ckpt.safetensors"))
    for out in ("r20.npz", "r20.safetensors"):
        code = main(["convert", str(tmp_path / "ckpt.safetensors"), str(tmp_path / out), "--arch", "resnet20"])
        assert code == 0, capsys.readouterr()
        loaded = minidl.load(tmp_path / out)
        np.testing.assert_array_equal(loaded["conv1.weight"], state["conv1.weight"])
    damaged(tmp_path, "bad", b"\x00" * 4)
    assert main(["convert", str(tmp_path / "bad.safetensors"), str(tmp_path / "o.npz"), "--arch", "resnet20"]) == 2
    assert "too short" in capsys.readouterr().err


def test_without_the_package_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[safetensors\]'"):
        minidl.save({"w": np.ones(2, np.float32)}, tmp_path / "x.safetensors")
