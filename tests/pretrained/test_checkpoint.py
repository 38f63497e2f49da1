"""Reading torch.save checkpoints without torch: real files, torch-written fixtures, hand-made
files (strided tensors, malicious pickles, corrupt and truncated data).

Fixtures in fixtures/ were written by torch itself (see fixtures/make_fixtures.py); the hand-made
files are assembled here from the format description (pickle opcodes + raw storage bytes), so
neither side borrows the loader's code.
"""
from __future__ import annotations

import json
import os
import pickle
import pickletools
import shlex
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.pretrained import (
    CheckpointError,
    DictWithAttributes,
    UnsafeCheckpointError,
    load_torch_checkpoint,
    load_torch_state_dict,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]
WEIGHTS = Path(os.environ.get("MINIDL_WEIGHTS") or REPO.parent / "shared" / "pretrained")

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

# From /work/shared/pretrained/README.md: file, blocks per stage, parameter count, best_prec1.
REAL_CHECKPOINTS = [
    ("resnet20-12fca82f.th", 3, 269_722, 91.78),
    ("resnet32-d509ac18.th", 5, 464_154, 92.78),
    ("resnet44-014dd654.th", 7, 658_586, 93.14),
    ("resnet56-4bfd9763.th", 9, 853_018, 93.62),
]


def _real(name: str) -> Path:
    path = WEIGHTS / name
    if not path.is_file():
        pytest.skip(f"pretrained checkpoint {path} not present (set MINIDL_WEIGHTS to its folder)")
    return path


# ------------------------------------------------------------------------------------------
# Expected objects of the torch-written fixtures: <case>.json + <case>.npz
# ------------------------------------------------------------------------------------------

def _decode(tree, arrays):
    """Invert make_fixtures.encode()."""
    if isinstance(tree, list):
        return [_decode(v, arrays) for v in tree]
    if not isinstance(tree, dict):
        return tree
    (kind, value), *rest = tree.items()
    if kind == "array":
        return arrays[value]
    if kind == "dict":
        items = [(_decode(k, arrays), _decode(v, arrays)) for k, v in value]
        if rest:
            return DictWithAttributes(items, _decode(tree["attributes"], arrays))
        return dict(items)
    if kind == "tuple":
        return tuple(_decode(v, arrays) for v in value)
    if kind == "list":
        return [_decode(v, arrays) for v in value]
    if kind == "bytes":
        return bytes.fromhex(value)
    raise AssertionError(f"unknown fixture tag {kind!r}")


def _expected(case: str):
    with np.load(FIXTURES / f"{case}.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return _decode(json.loads((FIXTURES / f"{case}.json").read_text()), arrays)


def _assert_same(actual, expected, where="object"):
    """Exact equality, including types, dict order, dtypes and array layout."""
    assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
    if isinstance(expected, np.ndarray):
        assert actual.dtype == expected.dtype, f"{where}: dtype {actual.dtype} != {expected.dtype}"
        assert actual.shape == expected.shape, f"{where}: shape {actual.shape} != {expected.shape}"
        assert actual.flags.c_contiguous and actual.flags.writeable, f"{where}: not a C-contiguous copy"
        np.testing.assert_array_equal(actual, expected, err_msg=where)
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), f"{where}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            _assert_same(actual[key], expected[key], f"{where}[{key!r}]")
        if isinstance(expected, DictWithAttributes):
            _assert_same(actual.attributes, expected.attributes, f"{where}.attributes")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{where}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            _assert_same(a, e, f"{where}[{i}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


FIXTURE_FILES = [("dtypes", "zip"), ("dtypes", "legacy"), ("views", "zip"), ("views", "legacy"),
                 ("nested", "zip"), ("nested", "legacy"), ("zip_only", "zip")]


@pytest.mark.parametrize("case, fmt", FIXTURE_FILES)
def test_torch_written_fixture_reads_back_exactly(case, fmt):
    """dtypes, strides, offsets, nested containers as torch wrote them."""
    _assert_same(load_torch_checkpoint(FIXTURES / f"{case}.{fmt}.pt"), _expected(case))


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_views_of_one_storage_are_independent_copies(fmt):
    loaded = load_torch_checkpoint(str(FIXTURES / f"views.{fmt}.pt"))  # str paths work too
    base = loaded["base"]
    for name in ("transposed", "slice", "column", "middle"):
        assert not np.shares_memory(base, loaded[name]), name
    loaded["transposed"][0, 0] = -1.0
    assert base[0, 0] == 0.0


def test_module_state_dict_keeps_its_metadata_attribute():
    """torch's state_dict() OrderedDict carries _metadata (module versions): kept, not lost."""
    state = load_torch_checkpoint(FIXTURES / "nested.zip.pt")["state_dict"]
    assert isinstance(state, DictWithAttributes)
    assert "_metadata" in state.attributes and "_metadata" not in state


@pytest.mark.parametrize("case, fmt", [("nested", "zip"), ("nested", "legacy"), ("views", "zip")])
def test_state_dict_helper_returns_plain_name_to_array_dict(case, fmt):
    expected = _expected(case)
    expected = expected.get("state_dict", expected)
    state = load_torch_state_dict(FIXTURES / f"{case}.{fmt}.pt")
    assert type(state) is dict
    _assert_same(state, dict(expected))


# ------------------------------------------------------------------------------------------
# The real pretrained checkpoints (legacy format, written by an old torch)
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, blocks, params, best_prec1", REAL_CHECKPOINTS)
def test_real_pretrained_checkpoint(name, blocks, params, best_prec1):
    checkpoint = load_torch_checkpoint(_real(name))
    assert set(checkpoint) == {"best_prec1", "state_dict"}
    assert isinstance(checkpoint["best_prec1"], float)
    assert checkpoint["best_prec1"] == pytest.approx(best_prec1, abs=5e-3)
    state = checkpoint["state_dict"]
    assert all(key.startswith("module.") for key in state)
    assert all(v.dtype == np.float32 and v.flags.c_contiguous for v in state.values())
    learned = sum(v.size for k, v in state.items() if not k.endswith(("running_mean", "running_var")))
    assert learned == params
    assert state["module.conv1.weight"].shape == (16, 3, 3, 3)
    assert state["module.linear.weight"].shape == (10, 64)
    assert state["module.linear.bias"].shape == (10,)
    for stage, width in ((1, 16), (2, 32), (3, 64)):
        assert state[f"module.layer{stage}.{blocks - 1}.conv2.weight"].shape == (width, width, 3, 3)
        assert f"module.layer{stage}.{blocks}.conv1.weight" not in state
    assert np.all(state["module.bn1.running_var"] > 0)
    assert np.all(np.isfinite(np.concatenate([v.ravel() for v in state.values()])))
    _assert_same(load_torch_state_dict(_real(name)), state)


# ------------------------------------------------------------------------------------------
# Hand-made files: pickle opcodes and raw bytes, following the format description
# ------------------------------------------------------------------------------------------

def _global(module: str, name: str) -> bytes:
    """GLOBAL opcode: pushes module.name as the unpickler resolves it."""
    return b"c" + f"{module}\n{name}\n".encode()


def _push(value) -> bytes:
    """Opcodes pushing a plain Python value (no PROTO header, no STOP)."""
    data = pickletools.optimize(pickle.dumps(value, protocol=2))
    assert data[:2] == b"\x80\x02" and data[-1:] == b"."
    return data[2:-1]


def _storage(storage_type: str, key: str, numel: int, view=None, module="torch") -> bytes:
    """A storage as the tensor's first argument: persistent id tuple + BINPERSID."""
    fields = _push("storage") + _global(module, storage_type) + _push(key) + _push("cuda:0")
    fields += _push(numel) + (b"" if view is None else _push(view))
    return b"(" + fields + b"tQ"


def _call(module: str, name: str, *args: bytes) -> bytes:
    """module.name(*args) via REDUCE."""
    return _global(module, name) + b"(" + b"".join(args) + b"tR"


def _tensor(version: str, storage: bytes, offset: int, size, stride, dtype: str = "") -> bytes:
    head = (storage, _push(offset), _push(tuple(size)), _push(tuple(stride)))
    if version == "v1":
        return _call("torch._utils", "_rebuild_tensor", *head)
    tail = (_push(False), _call("collections", "OrderedDict"))
    if version == "v2":
        return _call("torch._utils", "_rebuild_tensor_v2", *head, *tail)
    return _call("torch._utils", "_rebuild_tensor_v3", *head, *tail, _global("torch", dtype))


def _dict(**items: bytes) -> bytes:
    """A dict whose values are opcode fragments."""
    return b"}(" + b"".join(_push(k) + v for k, v in items.items()) + b"u"


def _pickle(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def _write_legacy(path: Path, object_pickle: bytes, storages, magic=LEGACY_MAGIC, version=1001,
                  keys=None, sys_info=None) -> Path:
    """Legacy stream: magic, version, sys info, object, key list pickles; then count + bytes."""
    with open(path, "wb") as f:
        f.write(pickle.dumps(magic, protocol=2))
        f.write(pickle.dumps(version, protocol=2))
        f.write(sys_info or pickle.dumps({"protocol_version": 1001, "little_endian": True,
                                          "type_sizes": {"short": 2, "int": 4, "long": 8}}, protocol=2))
        f.write(object_pickle)
        f.write(keys or pickle.dumps([key for key, _, _ in storages], protocol=2))
        for _, data, count in storages:
            f.write(struct.pack("<q", count) + data)
    return path


def _write_zip(path: Path, data_pkl: bytes, records: dict, prefix="archive", byteorder=b"little") -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{prefix}/data.pkl", data_pkl)
        if byteorder is not None:
            z.writestr(f"{prefix}/byteorder", byteorder)
        for key, data in records.items():
            z.writestr(f"{prefix}/data/{key}", data)
    return path


# (storage class, torch dtype name, little-endian numpy dtype)
ELEMENT_TYPES = [
    ("FloatStorage", "float32", "<f4"), ("DoubleStorage", "float64", "<f8"),
    ("HalfStorage", "float16", "<f2"), ("LongStorage", "int64", "<i8"),
    ("IntStorage", "int32", "<i4"), ("ShortStorage", "int16", "<i2"),
    ("CharStorage", "int8", "i1"), ("ByteStorage", "uint8", "u1"),
    ("BoolStorage", "bool", "?"),
]
LAYOUTS = ["legacy_v1", "legacy_v2", "zip_v2", "zip_v3", "zip_big_endian"]


@st.composite
def strided_tensors(draw):
    """A storage of random bytes and a strided view of it (offset, sizes, strides in elements)."""
    storage_type, dtype, np_dtype = draw(st.sampled_from(ELEMENT_TYPES))
    ndim = draw(st.integers(0, 3))
    size = tuple(draw(st.lists(st.integers(0, 4), min_size=ndim, max_size=ndim)))
    stride = tuple(draw(st.lists(st.integers(0, 6), min_size=ndim, max_size=ndim)))
    offset = draw(st.integers(0, 5))
    index = np.zeros(size, dtype=np.intp)  # storage element behind each tensor element
    for idx in np.ndindex(*size):
        index[idx] = offset + sum(i * s for i, s in zip(idx, stride))
    numel = (int(index.max()) + 1 if index.size else offset) + draw(st.integers(0, 3))
    itemsize = np.dtype(np_dtype).itemsize
    data = draw(st.binary(min_size=numel * itemsize, max_size=numel * itemsize))
    if dtype == "bool":
        data = bytes(b & 1 for b in data)
    return storage_type, dtype, np_dtype, size, stride, offset, numel, data, index


def _write_tensor_file(path: Path, layout: str, storage_type, dtype, np_dtype, size, stride,
                       offset, numel, data) -> Path:
    """One tensor {'t': tensor} written in ``layout``."""
    if layout == "legacy_v1" or layout == "legacy_v2":
        tensor = _tensor(layout[-2:], _storage(storage_type, "140", numel), offset, size, stride)
        return _write_legacy(path, _pickle(_dict(t=tensor)), [("140", data, numel)])
    if layout == "zip_v3":  # raw bytes storage; the dtype travels with the tensor
        storage = _storage("UntypedStorage", "0", len(data), module="torch.storage")
        return _write_zip(path, _pickle(_dict(t=_tensor("v3", storage, offset, size, stride, dtype))),
                          {"0": data})
    byteorder = b"little"
    if layout == "zip_big_endian":
        data = np.frombuffer(data, dtype=np_dtype).astype(np.dtype(np_dtype).newbyteorder(">")).tobytes()
        byteorder = b"big"
    tensor = _tensor("v2", _storage(storage_type, "0", numel), offset, size, stride)
    return _write_zip(path, _pickle(_dict(t=tensor)), {"0": data}, byteorder=byteorder)


@settings(max_examples=40, deadline=None)
@given(tensor=strided_tensors(), layout=st.sampled_from(LAYOUTS))
def test_strided_tensor_gathers_the_right_storage_elements(tmp_path_factory, tensor, layout):
    """Each loaded element equals storage[offset + sum(index * stride)], bit for bit."""
    storage_type, dtype, np_dtype, size, stride, offset, numel, data, index = tensor
    path = _write_tensor_file(tmp_path_factory.mktemp("t") / "t.pt", layout, storage_type, dtype,
                              np_dtype, size, stride, offset, numel, data)
    loaded = load_torch_checkpoint(path)["t"]
    itemsize = np.dtype(np_dtype).itemsize
    expected_bits = np.frombuffer(data, dtype=f"V{itemsize}")[index]
    assert loaded.shape == size and loaded.flags.c_contiguous
    assert loaded.dtype == np.dtype(np_dtype).newbyteorder("=")
    assert loaded.astype(np_dtype).view(f"V{itemsize}").tobytes() == expected_bits.tobytes()


@settings(max_examples=25, deadline=None)
@given(tensor=strided_tensors().filter(lambda t: t[8].size > 0), layout=st.sampled_from(LAYOUTS))
def test_tensor_reaching_past_its_storage_is_refused(tmp_path_factory, tensor, layout):
    """A storage one element shorter than the view's last element: CheckpointError, not garbage."""
    storage_type, dtype, np_dtype, size, stride, offset, _, data, index = tensor
    numel = int(index.max())  # the last needed element is missing
    data = data[: numel * np.dtype(np_dtype).itemsize]
    path = _write_tensor_file(tmp_path_factory.mktemp("t") / "t.pt", layout, storage_type, dtype,
                              np_dtype, size, stride, offset, numel, data)
    with pytest.raises(CheckpointError, match="needs .* bytes"):
        load_torch_checkpoint(path)


@pytest.mark.parametrize("view", [None, ("8", 3, 5)])
def test_legacy_storage_view_field(tmp_path, view):
    """Legacy persistent ids have a sixth field: None since PyTorch 1.0 (storage views were
    removed in 2018), loaded; a real view, written only by older versions, is refused."""
    data = np.arange(10, dtype="<f4")
    storage = _storage("FloatStorage", "7", 10, view=view)
    if view is None:  # _storage leaves out a None view: add it as torch >= 1.0 wrote it
        storage = storage[:-2] + _push(None) + storage[-2:]
    tensor = _tensor("v1", storage, 1, (2, 2), (1, 2))
    path = _write_legacy(tmp_path / "v.pt", _pickle(_dict(t=tensor)), [("7", data.tobytes(), 10)])
    if view is None:
        _assert_same(load_torch_checkpoint(path)["t"], np.array([[1, 3], [2, 4]], dtype=np.float32))
    else:
        with pytest.raises(CheckpointError, match=r"storage view .*PyTorch < 1\.0") as info:
            load_torch_checkpoint(path)
        assert str(path) in str(info.value)


def _complex_tensor_v2(tmp_path):
    tensor = _tensor("v2", _storage("ComplexFloatStorage", "0", 1), 0, (1,), (1,))
    return _write_zip(tmp_path / "c.pt", _pickle(_dict(t=tensor)), {"0": bytes(8)})


def _complex_tensor_v3(tmp_path):
    storage = _storage("UntypedStorage", "0", 16, module="torch.storage")
    tensor = _tensor("v3", storage, 0, (2,), (1,), "complex64")
    return _write_zip(tmp_path / "c.pt", _pickle(_dict(t=tensor)), {"0": bytes(16)})


def _with_metadata(tmp_path):
    """A float tensor whose rebuild call carries torch's conj/neg metadata dict."""
    head = (_storage("FloatStorage", "0", 1), _push(0), _push((1,)), _push((1,)))
    metadata = _dict(neg=_push(True))
    tensor = _call("torch._utils", "_rebuild_tensor_v2", *head, _push(False),
                   _call("collections", "OrderedDict"), metadata)
    return _write_zip(tmp_path / "m.pt", _pickle(_dict(t=tensor)), {"0": bytes(4)})


def _python_value(value):
    return lambda tmp_path: _write_zip(tmp_path / "p.pt", _pickle(_dict(x=_push(value))), {})


@pytest.mark.parametrize("make, what", [
    (_complex_tensor_v2, "complex tensors"), (_complex_tensor_v3, "complex tensors"),
    (_with_metadata, "metadata"), (_python_value({"a", "b"}), "Python set"),
    (_python_value(frozenset({1})), "Python frozenset"), (_python_value(1 + 2j), "Python complex"),
])
def test_formats_no_cnn_checkpoint_needs_are_refused_clearly(tmp_path, make, what):
    """Complex tensors (with their conj/neg bits) and Python sets/complex numbers: a plain
    CheckpointError naming the file and what it held, not a claim that the file is unsafe."""
    path = make(tmp_path)
    with pytest.raises(CheckpointError, match=what) as info:
        load_torch_checkpoint(path)
    assert not isinstance(info.value, UnsafeCheckpointError)
    assert str(path) in str(info.value)


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
    plain = _pickle(_dict(x=_push(1)))
    if where == "zip":
        path = _write_zip(tmp_path / "evil.pt", payload, {})
    elif where == "legacy_object":
        path = _write_legacy(tmp_path / "evil.pt", payload, [])
    elif where == "legacy_sys_info":
        path = _write_legacy(tmp_path / "evil.pt", plain, [], sys_info=payload)
    else:
        path = _write_legacy(tmp_path / "evil.pt", plain, [], keys=payload)
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
    body = _dict(x=_call(module, name, _push("ignored")))
    path = _write_zip(tmp_path / "evil.pt", _pickle(body), {})
    with pytest.raises(UnsafeCheckpointError, match=rf"{module}\.{name}".replace("(", r"\(")):
        load_torch_checkpoint(path)


def test_pickle_cannot_rewrite_an_allowed_global(tmp_path):
    """BUILD on an allowed function (e.g. setting its __defaults__) would poison later loads."""
    build = _global("torch._utils", "_rebuild_tensor_v2") + _push(({}, {"__defaults__": ("x",)})) + b"b"
    path = _write_zip(tmp_path / "evil.pt", _pickle(_dict(x=build)), {})
    with pytest.raises(CheckpointError):
        load_torch_checkpoint(path)
    _assert_same(load_torch_checkpoint(FIXTURES / "dtypes.zip.pt"), _expected("dtypes"))


def test_pickled_module_object_is_refused_with_advice(tmp_path):
    body = _dict(model=b"(" + _push(("module", "Net", "net.py", "class Net: ...")) + b"tQ")
    path = _write_legacy(tmp_path / "m.pt", _pickle(body), [])
    with pytest.raises(CheckpointError, match="state_dict"):
        load_torch_checkpoint(path)


# ------------------------------------------------------------------------------------------
# Damaged and foreign files
# ------------------------------------------------------------------------------------------

def _truncation_points(size: int) -> list[int]:
    return sorted({0, 1, 10, 14, 15, 20, 100, 136, 500, size // 3, size // 2, size - 9, size - 4,
                   size - 1})


def test_truncated_real_checkpoint_is_a_checkpoint_error(tmp_path):
    data = _real("resnet20-12fca82f.th").read_bytes()
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
    path = _write_legacy(tmp_path / "m.pt", _pickle(_dict(x=_push(1))), [], magic=LEGACY_MAGIC + 1)
    with pytest.raises(CheckpointError, match="magic number"):
        load_torch_checkpoint(path)


def test_unknown_legacy_protocol_version(tmp_path):
    path = _write_legacy(tmp_path / "v.pt", _pickle(_dict(x=_push(1))), [], version=1002)
    with pytest.raises(CheckpointError, match="protocol version 1002"):
        load_torch_checkpoint(path)


def test_legacy_storage_count_disagreeing_with_its_declaration(tmp_path):
    tensor = _tensor("v2", _storage("FloatStorage", "1", 4), 0, (4,), (1,))
    path = _write_legacy(tmp_path / "s.pt", _pickle(_dict(t=tensor)), [("1", bytes(12), 3)])
    with pytest.raises(CheckpointError, match="declared with 4 elements"):
        load_torch_checkpoint(path)


def test_legacy_storage_listed_without_use_or_used_without_data(tmp_path):
    tensor = _tensor("v2", _storage("FloatStorage", "1", 1), 0, (1,), (1,))
    unused = _write_legacy(tmp_path / "u.pt", _pickle(_dict(t=tensor)),
                           [("1", bytes(4), 1), ("2", bytes(4), 1)])
    with pytest.raises(CheckpointError, match="'2' listed"):
        load_torch_checkpoint(unused)
    missing = _write_legacy(tmp_path / "m.pt", _pickle(_dict(t=tensor)), [])
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
    with pytest.raises(CheckpointError, match=r"no record 'views.zip/data/0'"):
        load_torch_checkpoint(path)


def test_zip_without_data_pkl(tmp_path):
    path = _rewrite_zip(FIXTURES / "views.zip.pt", tmp_path / "views.pt", drop="/data.pkl")
    with pytest.raises(CheckpointError, match="data.pkl"):
        load_torch_checkpoint(path)


def test_zip_storage_record_of_the_wrong_size(tmp_path):
    tensor = _tensor("v2", _storage("DoubleStorage", "0", 3), 0, (3,), (1,))
    path = _write_zip(tmp_path / "z.pt", _pickle(_dict(t=tensor)), {"0": bytes(16)})
    with pytest.raises(CheckpointError, match="24 bytes.*16 bytes"):
        load_torch_checkpoint(path)


def test_zip_prefix_is_read_from_the_archive(tmp_path):
    tensor = _tensor("v2", _storage("IntStorage", "k", 2), 0, (2,), (1,))
    path = _write_zip(tmp_path / "z.pt", _pickle(_dict(t=tensor)),
                      {"k": np.array([5, -6], "<i4").tobytes()}, prefix="any_name", byteorder=None)
    _assert_same(load_torch_checkpoint(path), {"t": np.array([5, -6], dtype=np.int32)})


# ------------------------------------------------------------------------------------------
# load_torch_state_dict refuses to drop entries
# ------------------------------------------------------------------------------------------

def test_state_dict_with_non_tensor_entries_is_refused(tmp_path):
    tensor = _tensor("v2", _storage("FloatStorage", "0", 1), 0, (1,), (1,))
    body = _dict(state_dict=_dict(w=tensor, step=_push(3)))
    path = _write_zip(tmp_path / "s.pt", _pickle(body), {"0": bytes(4)})
    with pytest.raises(CheckpointError, match="'step': int"):
        load_torch_state_dict(path)


def test_checkpoint_that_is_not_a_state_dict_is_refused(tmp_path):
    path = _write_zip(tmp_path / "e.pt", _pickle(_dict(epoch=_push(3))), {})
    with pytest.raises(CheckpointError, match="'epoch': int"):
        load_torch_state_dict(path)
    path = _write_zip(tmp_path / "l.pt", _pickle(_push([1, 2])), {})
    with pytest.raises(CheckpointError, match="is a list"):
        load_torch_state_dict(path)
