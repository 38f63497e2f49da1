"""Checkpoint files for the reader's tests: the torch-written fixtures in fixtures/ with the
objects they hold (<case>.json + <case>.npz, see fixtures/make_fixtures.py), the real CIFAR
ResNet files ($MINIDL_WEIGHTS or <repo>/../shared/pretrained), and hand-made files assembled
from the format description (pickle opcodes + raw storage bytes), so that neither the fixtures
nor these builders borrow the loader's code.
"""
from __future__ import annotations

import json
import os
import pickle
import pickletools
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st

from minidl.pretrained import DictWithAttributes

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]
WEIGHTS = Path(os.environ.get("MINIDL_WEIGHTS") or REPO.parent / "shared" / "pretrained")

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def real_checkpoint(name: str) -> Path:
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


def expected_object(case: str):
    with np.load(FIXTURES / f"{case}.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return _decode(json.loads((FIXTURES / f"{case}.json").read_text()), arrays)


def assert_same(actual, expected, where="object"):
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
            assert_same(actual[key], expected[key], f"{where}[{key!r}]")
        if isinstance(expected, DictWithAttributes):
            assert_same(actual.attributes, expected.attributes, f"{where}.attributes")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{where}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, f"{where}[{i}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


# ------------------------------------------------------------------------------------------
# Hand-made files: pickle opcodes and raw bytes, following the format description
# ------------------------------------------------------------------------------------------

def global_op(module: str, name: str) -> bytes:
    """GLOBAL opcode: pushes module.name as the unpickler resolves it."""
    return b"c" + f"{module}\n{name}\n".encode()


def push(value) -> bytes:
    """Opcodes pushing a plain Python value (no PROTO header, no STOP)."""
    data = pickletools.optimize(pickle.dumps(value, protocol=2))
    assert data[:2] == b"\x80\x02" and data[-1:] == b"."
    return data[2:-1]


def storage_id(storage_type: str, key: str, numel: int, view=None, module="torch") -> bytes:
    """A storage as the tensor's first argument: persistent id tuple + BINPERSID."""
    fields = push("storage") + global_op(module, storage_type) + push(key) + push("cuda:0")
    fields += push(numel) + (b"" if view is None else push(view))
    return b"(" + fields + b"tQ"


def call(module: str, name: str, *args: bytes) -> bytes:
    """module.name(*args) via REDUCE."""
    return global_op(module, name) + b"(" + b"".join(args) + b"tR"


def rebuild(version: str, storage: bytes, offset: int, size, stride, dtype: str = "") -> bytes:
    head = (storage, push(offset), push(tuple(size)), push(tuple(stride)))
    if version == "v1":
        return call("torch._utils", "_rebuild_tensor", *head)
    tail = (push(False), call("collections", "OrderedDict"))
    if version == "v2":
        return call("torch._utils", "_rebuild_tensor_v2", *head, *tail)
    return call("torch._utils", "_rebuild_tensor_v3", *head, *tail, global_op("torch", dtype))


def dict_op(**items: bytes) -> bytes:
    """A dict whose values are opcode fragments."""
    return b"}(" + b"".join(push(k) + v for k, v in items.items()) + b"u"


def pickle_op(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def write_legacy(path: Path, object_pickle: bytes, storages, magic=LEGACY_MAGIC, version=1001,
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


def write_zip(path: Path, data_pkl: bytes, records: dict, prefix="archive", byteorder=b"little") -> Path:
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


def write_tensor_file(path: Path, layout: str, storage_type, dtype, np_dtype, size, stride,
                       offset, numel, data) -> Path:
    """One tensor {'t': tensor} written in ``layout``."""
    if layout == "legacy_v1" or layout == "legacy_v2":
        tensor = rebuild(layout[-2:], storage_id(storage_type, "140", numel), offset, size, stride)
        return write_legacy(path, pickle_op(dict_op(t=tensor)), [("140", data, numel)])
    if layout == "zip_v3":  # raw bytes storage; the dtype travels with the tensor
        storage = storage_id("UntypedStorage", "0", len(data), module="torch.storage")
        return write_zip(path, pickle_op(dict_op(t=rebuild("v3", storage, offset, size, stride, dtype))),
                          {"0": data})
    byteorder = b"little"
    if layout == "zip_big_endian":
        data = np.frombuffer(data, dtype=np_dtype).astype(np.dtype(np_dtype).newbyteorder(">")).tobytes()
        byteorder = b"big"
    tensor = rebuild("v2", storage_id(storage_type, "0", numel), offset, size, stride)
    return write_zip(path, pickle_op(dict_op(t=tensor)), {"0": data}, byteorder=byteorder)
