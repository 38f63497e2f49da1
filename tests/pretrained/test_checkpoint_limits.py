"""The checkpoint reader's bounds: tiny hostile files cannot take the process's memory, time or
life (a segfault), and hostile sizes, strides or pickles are CheckpointErrors -- never another
exception. Memory is proven in a child process under an address-space limit."""
from __future__ import annotations

import pickle
import struct
import time
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.pretrained import CheckpointError, load_torch_checkpoint

from ..memory_limit import run_limited
from .checkpoint_files import (FIXTURES, call, dict_op, pickle_op, push, rebuild, storage_id,
                               write_legacy, write_zip)

LOAD = """
from minidl.pretrained import CheckpointError, load_torch_checkpoint
try:
    load_torch_checkpoint({path!r})
except CheckpointError as exc:
    print("CheckpointError:", str(exc)[:300])
"""


def _limited_load(path, megabytes=200):
    result = run_limited(LOAD.format(path=str(path)), megabytes)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_a_huge_memo_index_is_refused_within_a_memory_limit(tmp_path):
    """139 bytes with LONG_BINPUT 2**28 took 4.2 GB in CPython's memo (gh-115952)."""
    body = b"N" + b"r" + struct.pack("<I", 2 ** 28)
    path = write_zip(tmp_path / "memo.pt", pickle_op(dict_op(x=body)), {})
    assert "CheckpointError" in _limited_load(path) and "memo index 268435456" in _limited_load(path)


def test_a_tuple_nested_a_million_deep_as_a_dict_key_is_an_error_not_a_crash(tmp_path):
    deep = b")" + b"\x85" * 10 ** 6                      # EMPTY_TUPLE, then TUPLE1 10^6 times
    path = write_zip(tmp_path / "deep.pt", pickle_op(b"}" + deep + push(1) + b"s"), {})
    out = _limited_load(path)
    assert "nested more than 100 deep" in out


def test_nesting_just_under_the_limit_loads(tmp_path):
    body = b")" + b"\x85" * 90
    path = write_zip(tmp_path / "ok.pt", pickle_op(dict_op(x=body)), {})
    value = load_torch_checkpoint(path)["x"]
    for _ in range(90):
        (value,) = value
    assert value == ()


def _shared_tuples(levels: int, as_key: bool) -> bytes:
    """t0 = ('a',); t_k = (t_{k-1}, t_{k-1}) through the memo: 2**levels leaves in 3 bytes a level."""
    body = push("a") + b"\x85" + b"q\x00"
    for k in range(1, levels + 1):
        body += b"0h" + bytes([k - 1]) + b"h" + bytes([k - 1]) + b"\x86" + b"q" + bytes([k])
    return pickle_op(b"}" + body + push(1) + b"s") if as_key else pickle_op(dict_op(x=body))


@pytest.mark.parametrize("as_key", [True, False])
def test_memo_shared_containers_that_expand_exponentially_are_refused_at_once(tmp_path, as_key):
    path = write_zip(tmp_path / "shared.pt", _shared_tuples(60, as_key), {})
    start = time.monotonic()
    with pytest.raises(CheckpointError, match="expand to more than"):
        load_torch_checkpoint(path)
    assert time.monotonic() - start < 5


def test_modest_sharing_still_loads(tmp_path):
    path = write_zip(tmp_path / "shared.pt", _shared_tuples(5, False), {})
    value = load_torch_checkpoint(path)["x"]
    assert value[0] is value[1] and value[1][0][0][0][0] == ("a",)


@pytest.mark.parametrize("protocol", [4, 5])
def test_sets_and_frozensets_are_refused_by_opcode(tmp_path, protocol):
    """A 484-byte frozenset of memo-shared tuples never returned; sets never reach the unpickler."""
    data = pickle.dumps({"x": frozenset({(1, 2), (3,)}), "y": {4}}, protocol=protocol)
    path = write_zip(tmp_path / "set.pt", data, {})
    with pytest.raises(CheckpointError, match="Python set"):
        load_torch_checkpoint(path)


def test_a_container_changed_after_use_or_holding_itself_is_refused(tmp_path):
    late = b"]q\x00" + b"]" + b"h\x00" + b"a" + b"0" + b"h\x00" + push(1) + b"a"   # a=[]; [a]; a.append(1)
    path = write_zip(tmp_path / "late.pt", pickle_op(dict_op(x=late)), {})
    with pytest.raises(CheckpointError, match="already put into another"):
        load_torch_checkpoint(path)
    cycle = b"]q\x00h\x00a"
    path = write_zip(tmp_path / "cycle.pt", pickle_op(dict_op(x=cycle)), {})
    with pytest.raises(CheckpointError, match="into itself"):
        load_torch_checkpoint(path)


def test_messages_about_huge_objects_are_short_and_quick(tmp_path):
    """f'{x!r:.80}' built the whole repr first: 3.2 GB for a 522 kB file."""
    dims = push(["x" * 50] * 2000 + [1.5])
    path = write_zip(tmp_path / "size.pt", pickle_op(dict_op(x=call("torch", "Size", dims))), {})
    start = time.monotonic()
    with pytest.raises(CheckpointError, match="torch.Size must hold ints") as info:
        load_torch_checkpoint(path)
    assert len(str(info.value)) < 500 and time.monotonic() - start < 5
    huge = b"\x8b" + struct.pack("<i", 400_000) + b"\x01" * 400_000     # LONG4: a 3.2M-bit int
    path = write_zip(tmp_path / "magic.pt", pickle_op(dict_op(x=call("torch", "device", huge))), {})
    with pytest.raises(CheckpointError, match="bits") as info:
        load_torch_checkpoint(path)
    assert len(str(info.value)) < 500


def _tensor_zip(path, size, stride, offset=0, numel=1):
    tensor = rebuild("v2", storage_id("FloatStorage", "0", numel), offset, size, stride)
    return write_zip(path, pickle_op(dict_op(t=tensor)), {"0": bytes(4 * numel)})


def test_a_zero_stride_view_is_not_copied_beyond_the_stored_bytes(tmp_path):
    """A 4-byte storage seen as 2**29 elements became a 2 GiB copy."""
    path = _tensor_zip(tmp_path / "zero.pt", (2 ** 29,), (0,))
    assert "repeat their storages' bytes" in _limited_load(path, megabytes=300)
    small = load_torch_checkpoint(_tensor_zip(tmp_path / "small.pt", (3, 4), (0, 0)))["t"]
    assert small.shape == (3, 4) and not small.any()             # torch's expand(): still read


def test_a_compressed_record_is_refused_before_it_is_inflated(tmp_path):
    """A deflated 1 GiB storage loaded from a 1 MB file; PyTorch never compresses records."""
    numel = 2 ** 26                                        # 256 MiB of zeros, deflated to ~250 kB
    tensor = rebuild("v2", storage_id("FloatStorage", "0", numel), 0, (numel,), (1,))
    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle_op(dict_op(t=tensor)))
        z.writestr("archive/data/0", bytes(numel * 4), compress_type=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 1 << 20
    assert "is compressed" in _limited_load(path, megabytes=150)


def test_declared_sizes_beyond_the_file_and_duplicate_names_are_refused(tmp_path):
    tensor = rebuild("v2", storage_id("FloatStorage", "0", 2), 0, (2,), (1,))
    path = write_zip(tmp_path / "z.pt", pickle_op(dict_op(t=tensor)), {"0": bytes(8)})
    data = bytearray(path.read_bytes())
    entry = data.rindex(b"PK\x01\x02")                       # the last central-directory entry
    data[entry + 20:entry + 28] = struct.pack("<II", 2 ** 30, 2 ** 30)
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="more than the"):
        load_torch_checkpoint(path)
    dup = tmp_path / "dup.pt"
    with pytest.warns(UserWarning), zipfile.ZipFile(dup, "w") as z:
        for content in (bytes(8), b"\x00\x00\x80\x3f" * 2):
            z.writestr("archive/data.pkl", pickle_op(dict_op(t=tensor)))
            z.writestr("archive/data/0", content)
    with pytest.raises(CheckpointError, match="appears twice"):
        load_torch_checkpoint(dup)


# ------------------------------------------------------------------------------------------
# Seeded fuzzing: hostile tensor metadata and mutated pickles
# ------------------------------------------------------------------------------------------

_HOSTILE_INTS = st.one_of(st.integers(0, 6), st.integers(-3, 2 ** 70),
                          st.sampled_from([2 ** 31, 2 ** 32, 2 ** 62, 2 ** 63, 2 ** 64]))


@settings(max_examples=80, deadline=None, derandomize=True)
@given(size=st.lists(_HOSTILE_INTS, max_size=70), stride=st.lists(_HOSTILE_INTS, max_size=70),
       offset=_HOSTILE_INTS, numel=st.integers(0, 8), legacy=st.booleans())
def test_hostile_sizes_strides_and_offsets_load_or_are_checkpoint_errors(
        tmp_path_factory, size, stride, offset, numel, legacy):
    """Raw TypeError / OverflowError / ValueError / MemoryError escaped from building arrays."""
    folder = tmp_path_factory.mktemp("t")
    stride = stride[:len(size)] + [1] * max(0, len(size) - len(stride)) if legacy else stride
    tensor = rebuild("v2", storage_id("FloatStorage", "0", numel), offset, size, stride)
    if legacy:
        path = write_legacy(folder / "t.pt", pickle_op(dict_op(t=tensor)), [("0", bytes(4 * numel), numel)])
    else:
        path = write_zip(folder / "t.pt", pickle_op(dict_op(t=tensor)), {"0": bytes(4 * numel)})
    try:
        array = load_torch_checkpoint(path)["t"]
    except CheckpointError:
        return
    assert array.shape == tuple(size) and array.nbytes <= 2 * 4 * numel + (1 << 20)


def _data_pkl(case: str) -> tuple[str, bytes, dict]:
    with zipfile.ZipFile(FIXTURES / case) as z:
        name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        return name, z.read(name), {n: z.read(n) for n in z.namelist() if n != name}


@settings(max_examples=120, deadline=None, derandomize=True)
@given(case=st.sampled_from(["nested.zip.pt", "views.zip.pt", "dtypes.zip.pt"]),
       edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=5),
                                st.sampled_from(["replace", "insert", "delete"])), min_size=1, max_size=4),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_mutated_pickles_inside_intact_archives_load_or_are_checkpoint_errors(
        tmp_path_factory, case, edits, cut):
    """The archive's CRCs are right, so every mutation reaches the pickle parser and the
    tensor builder."""
    name, data, others = _data_pkl(case)
    data = bytearray(data)
    for where, blob, how in edits:
        i = int(where * len(data))
        if how == "replace":
            data[i:i + len(blob)] = blob
        elif how == "insert":
            data[i:i] = blob
        else:
            del data[i:i + len(blob)]
    if cut is not None:
        data = data[:int(cut * len(data))]
    path = tmp_path_factory.mktemp("m") / case
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(name, bytes(data))
        for other, content in others.items():
            z.writestr(other, content)
    try:
        load_torch_checkpoint(path)
    except CheckpointError:
        pass
