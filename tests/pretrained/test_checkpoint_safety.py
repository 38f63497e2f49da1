"""The checkpoint reader's safety: malicious pickles are refused before anything runs, and
damaged or foreign files (truncated, random, one byte corrupted, inconsistent structure) raise
CheckpointError naming the file -- never another exception, never code.
"""
from __future__ import annotations

import os
import pickle
import shlex
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.pretrained import CheckpointError, UnsafeCheckpointError, load_torch_checkpoint

from .checkpoint_files import (FIXTURES, LEGACY_MAGIC, assert_same, call, dict_op, expected_object,
                               global_op, pickle_op, push, real_checkpoint, rebuild, storage_id,
                               write_legacy, write_zip)


# ------------------------------------------------------------------------------------------
# Malicious pickles: refused before anything runs
# ------------------------------------------------------------------------------------------

class _TouchFile:
    """Unpickling this with plain pickle runs os.system('touch <path>')."""

    def __init__(self, path: Path):
        self.command = f"touch {shlex.quote(str(path))}"

    def __reduce__(self):
        return os.system, (self.command,)


def _malicious_pickle(marker: Path, protocol: int) -> bytes:
    return pickle.dumps({"state_dict": {"weight": _TouchFile(marker)}}, protocol=protocol)


@pytest.mark.parametrize("protocol", [2, 4])  # GLOBAL and STACK_GLOBAL opcodes
def test_the_malicious_pickle_really_runs_code_under_plain_pickle(tmp_path, protocol):
    """Guards the tests below: their payload is live, so 'not created' means 'refused'."""
    marker = tmp_path / "pwned"
    pickle.loads(_malicious_pickle(marker, protocol))
    assert marker.exists()


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("where", ["zip", "legacy_object", "legacy_sys_info", "legacy_keys"])
def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path, protocol, where):
    marker = tmp_path / "pwned"
    payload = _malicious_pickle(marker, protocol)
    plain = pickle_op(dict_op(x=push(1)))
    if where == "zip":
        path = write_zip(tmp_path / "evil.pt", payload, {})
    elif where == "legacy_object":
        path = write_legacy(tmp_path / "evil.pt", payload, [])
    elif where == "legacy_sys_info":
        path = write_legacy(tmp_path / "evil.pt", plain, [], sys_info=payload)
    else:
        path = write_legacy(tmp_path / "evil.pt", plain, [], keys=payload)
    with pytest.raises(UnsafeCheckpointError, match=r"(posix|os)\.system") as info:
        load_torch_checkpoint(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [
    ("builtins", "eval"), ("builtins", "open"), ("__builtin__", "getattr"), ("subprocess", "Popen"),
    ("torch.serialization", "load"), ("torch._utils", "_rebuild_qtensor"),
    ("torch.storage", "_load_from_bytes"), ("numpy.core.multiarray", "_reconstruct"),
    ("collections", "OrderedDict.fromkeys"), ("torch", "FloatStorage.__init__"),
])
def test_every_global_off_the_allow_list_is_refused(tmp_path, module, name):
    body = dict_op(x=call(module, name, push("ignored")))
    path = write_zip(tmp_path / "evil.pt", pickle_op(body), {})
    with pytest.raises(UnsafeCheckpointError, match=rf"{module}\.{name}".replace("(", r"\(")):
        load_torch_checkpoint(path)


def test_pickle_cannot_rewrite_an_allowed_global(tmp_path):
    """BUILD on an allowed function (e.g. setting its __defaults__) would poison later loads."""
    build = global_op("torch._utils", "_rebuild_tensor_v2") + push(({}, {"__defaults__": ("x",)})) + b"b"
    path = write_zip(tmp_path / "evil.pt", pickle_op(dict_op(x=build)), {})
    with pytest.raises(CheckpointError):
        load_torch_checkpoint(path)
    assert_same(load_torch_checkpoint(FIXTURES / "dtypes.zip.pt"), expected_object("dtypes"))


def test_pickled_module_object_is_refused_with_advice(tmp_path):
    body = dict_op(model=b"(" + push(("module", "Net", "net.py", "class Net: ...")) + b"tQ")
    path = write_legacy(tmp_path / "m.pt", pickle_op(body), [])
    with pytest.raises(CheckpointError, match="state_dict"):
        load_torch_checkpoint(path)


# ------------------------------------------------------------------------------------------
# Damaged and foreign files
# ------------------------------------------------------------------------------------------

def _truncation_points(size: int) -> list[int]:
    return sorted({0, 1, 10, 14, 15, 20, 100, 136, 500, size // 3, size // 2, size - 9, size - 4,
                   size - 1})


def test_truncated_real_checkpoint_is_a_checkpoint_error(tmp_path):
    data = real_checkpoint("resnet20-12fca82f.th").read_bytes()
    for n in _truncation_points(len(data)):
        path = tmp_path / f"cut{n}.th"
        path.write_bytes(data[:n])
        with pytest.raises(CheckpointError) as info:
            load_torch_checkpoint(path)
        assert str(path) in str(info.value), n


@pytest.mark.parametrize("case", ["dtypes.zip.pt", "dtypes.legacy.pt", "nested.zip.pt"])
def test_truncated_fixture_is_a_checkpoint_error(tmp_path, case):
    data = (FIXTURES / case).read_bytes()
    for n in _truncation_points(len(data)):
        path = tmp_path / f"cut{n}.pt"
        path.write_bytes(data[:n])
        with pytest.raises(CheckpointError):
            load_torch_checkpoint(path)


HEADS = {  # random tails after the start of a real file of each format
    "none": b"",
    "legacy_magic": pickle.dumps(LEGACY_MAGIC, protocol=2),
    "legacy_header": pickle.dumps(LEGACY_MAGIC, protocol=2) + pickle.dumps(1001, protocol=2),
    "zip_signature": b"PK\x03\x04",
}


@settings(max_examples=40, deadline=None)
@given(head=st.sampled_from(sorted(HEADS)), tail=st.binary(max_size=300))
def test_random_bytes_are_a_checkpoint_error(tmp_path_factory, head, tail):
    path = tmp_path_factory.mktemp("r") / "random.pt"
    path.write_bytes(HEADS[head] + tail)
    with pytest.raises(CheckpointError):
        load_torch_checkpoint(path)


@settings(max_examples=40, deadline=None)
@given(case=st.sampled_from(["views.legacy.pt", "views.zip.pt", "nested.legacy.pt"]),
       where=st.floats(0, 1, exclude_max=True), value=st.integers(0, 255))
def test_corrupted_byte_either_loads_or_is_a_checkpoint_error(tmp_path_factory, case, where, value):
    """One byte overwritten anywhere: never any other exception (and never code)."""
    data = bytearray((FIXTURES / case).read_bytes())
    data[int(where * len(data))] = value
    path = tmp_path_factory.mktemp("c") / case
    path.write_bytes(bytes(data))
    try:
        load_torch_checkpoint(path)
    except CheckpointError:
        pass


def test_bad_magic_number(tmp_path):
    path = write_legacy(tmp_path / "m.pt", pickle_op(dict_op(x=push(1))), [], magic=LEGACY_MAGIC + 1)
    with pytest.raises(CheckpointError, match="magic number"):
        load_torch_checkpoint(path)


def test_unknown_legacy_protocol_version(tmp_path):
    path = write_legacy(tmp_path / "v.pt", pickle_op(dict_op(x=push(1))), [], version=1002)
    with pytest.raises(CheckpointError, match="protocol version 1002"):
        load_torch_checkpoint(path)


def test_legacy_storage_count_disagreeing_with_its_declaration(tmp_path):
    tensor = rebuild("v2", storage_id("FloatStorage", "1", 4), 0, (4,), (1,))
    path = write_legacy(tmp_path / "s.pt", pickle_op(dict_op(t=tensor)), [("1", bytes(12), 3)])
    with pytest.raises(CheckpointError, match="declared with 4 elements"):
        load_torch_checkpoint(path)


def test_legacy_storage_listed_without_use_or_used_without_data(tmp_path):
    tensor = rebuild("v2", storage_id("FloatStorage", "1", 1), 0, (1,), (1,))
    unused = write_legacy(tmp_path / "u.pt", pickle_op(dict_op(t=tensor)),
                           [("1", bytes(4), 1), ("2", bytes(4), 1)])
    with pytest.raises(CheckpointError, match="'2' listed"):
        load_torch_checkpoint(unused)
    missing = write_legacy(tmp_path / "m.pt", pickle_op(dict_op(t=tensor)), [])
    with pytest.raises(CheckpointError, match="no data"):
        load_torch_checkpoint(missing)


def _rewrite_zip(source: Path, target: Path, drop: str) -> Path:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            if not info.filename.endswith(drop):
                dst.writestr(info, src.read(info))
    return target


def test_zip_missing_a_storage_record(tmp_path):
    path = _rewrite_zip(FIXTURES / "views.zip.pt", tmp_path / "views.pt", drop="/data/0")
    with pytest.raises(CheckpointError, match=r"no member 'views.zip/data/0'"):
        load_torch_checkpoint(path)


def test_zip_without_data_pkl(tmp_path):
    path = _rewrite_zip(FIXTURES / "views.zip.pt", tmp_path / "views.pt", drop="/data.pkl")
    with pytest.raises(CheckpointError, match="data.pkl"):
        load_torch_checkpoint(path)


def test_zip_storage_record_of_the_wrong_size(tmp_path):
    tensor = rebuild("v2", storage_id("DoubleStorage", "0", 3), 0, (3,), (1,))
    path = write_zip(tmp_path / "z.pt", pickle_op(dict_op(t=tensor)), {"0": bytes(16)})
    with pytest.raises(CheckpointError, match="24 bytes.*16 bytes"):
        load_torch_checkpoint(path)


def test_zip_prefix_is_read_from_the_archive(tmp_path):
    tensor = rebuild("v2", storage_id("IntStorage", "k", 2), 0, (2,), (1,))
    path = write_zip(tmp_path / "z.pt", pickle_op(dict_op(t=tensor)),
                      {"k": np.array([5, -6], "<i4").tobytes()}, prefix="any_name", byteorder=None)
    assert_same(load_torch_checkpoint(path), {"t": np.array([5, -6], dtype=np.int32)})
