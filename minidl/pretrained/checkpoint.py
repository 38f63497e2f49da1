"""Read PyTorch checkpoints (``torch.save`` files) into NumPy arrays without importing torch.

``torch.save`` has written two formats:

* legacy (torch < 1.6, or ``_use_new_zipfile_serialization=False``): one stream of pickles --
  magic number, protocol version, system info, the saved object, the list of storage keys --
  then each storage's raw little-endian bytes, preceded by its element count as an int64;
* zip (torch >= 1.6): ``<prefix>/data.pkl`` holds the object, ``<prefix>/data/<key>`` the raw
  bytes of each storage, ``<prefix>/byteorder`` their byte order.

Either way the pickles are read by ``minidl.pretrained.unpickler``, which allows only the globals
that rebuild tensors and plain containers, so loading never runs code chosen by the file.
Tensors come back as C-contiguous, native-endian NumPy copies.
"""
from __future__ import annotations

import io
import os
import struct
import zipfile

import numpy as np

from .unpickler import (CheckpointError, StorageRef, StorageTable, TensorRef, TypeMarker,
                        UnsafeCheckpointError, unpickle)

__all__ = [
    "CheckpointError",
    "UnsafeCheckpointError",
    "DictWithAttributes",
    "load_torch_checkpoint",
    "load_torch_state_dict",
]

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
_LEGACY_MAGIC_OPCODE = b"\x8a\x0a" + LEGACY_MAGIC_NUMBER.to_bytes(10, "little")  # pickle LONG1
_ZIP_SIGNATURE = b"PK\x03\x04"


class DictWithAttributes(dict):
    """A pickled ``OrderedDict`` that also carried instance attributes, kept in ``.attributes``.

    torch's ``state_dict()`` results carry ``_metadata``, the per-module version table.
    """

    def __init__(self, items=(), attributes=None):
        super().__init__(items)
        self.attributes = dict(attributes or {})


# --------------------------------------------------------------------------------------------
# From placeholders to arrays
# --------------------------------------------------------------------------------------------

def _materialize(tensor: TensorRef, raw: bytes, byteorder: str) -> np.ndarray:
    """The tensor's elements as a fresh C-contiguous array of shape ``tensor.size``."""
    element, size = tensor.element, tensor.size
    if not all(size):
        return element.to_numpy(np.zeros(size, dtype=element.raw))
    itemsize = element.itemsize
    raw_dtype = element.raw.newbyteorder(">") if byteorder == "big" else element.raw
    span = sum((n - 1) * s for n, s in zip(size, tensor.stride)) + 1
    start = tensor.offset * itemsize
    flat = np.frombuffer(raw, dtype=raw_dtype, count=span, offset=start)
    view = np.lib.stride_tricks.as_strided(
        flat, shape=size, strides=tuple(s * itemsize for s in tensor.stride), writeable=False)
    return element.to_numpy(view)


def _resolve(obj, storages: StorageTable, byteorder: str, memo: dict):
    """``obj`` with placeholders replaced: tensors -> arrays, OrderedDicts -> dicts."""
    key = id(obj)  # the pickled tree keeps obj alive, so its id stays unique meanwhile
    if key in memo:
        return memo[key]
    if isinstance(obj, StorageRef):  # a storage saved on its own: its elements, 1-D
        obj = TensorRef(obj, 0, (obj.numel,), (1,), obj.element)
    if isinstance(obj, TensorRef):
        result = _materialize(obj, storages.raw[obj.storage.key], byteorder)
    elif isinstance(obj, TypeMarker):
        result = obj.qualname
    elif isinstance(obj, dict):
        attributes = getattr(obj, "attributes", None)
        result = DictWithAttributes() if attributes else {}
        memo[key] = result
        for name, value in obj.items():
            name = _resolve(name, storages, byteorder, memo)
            if isinstance(name, np.ndarray):
                raise CheckpointError("a tensor used as a dict key cannot become a NumPy array")
            result[name] = _resolve(value, storages, byteorder, memo)
        if attributes:
            result.attributes = _resolve(attributes, storages, byteorder, memo)
    elif isinstance(obj, list):
        result = []
        memo[key] = result
        result.extend(_resolve(v, storages, byteorder, memo) for v in obj)
    elif isinstance(obj, tuple):
        result = tuple(_resolve(v, storages, byteorder, memo) for v in obj)
    else:  # None, bool, int, float, str, bytes
        result = obj
    memo[key] = result
    return result


# --------------------------------------------------------------------------------------------
# The two file formats
# --------------------------------------------------------------------------------------------

def _load_legacy(file) -> object:
    """Read the legacy pickle stream followed by the raw storages."""
    magic = unpickle(file, None, "magic number pickle")
    if magic != LEGACY_MAGIC_NUMBER:
        raise CheckpointError(f"bad magic number {magic!r:.40}: not a legacy torch.save file")
    version = unpickle(file, None, "protocol version pickle")
    if version != LEGACY_PROTOCOL_VERSION:
        raise CheckpointError(f"unsupported legacy protocol version {version!r:.40} "
                              f"(expected {LEGACY_PROTOCOL_VERSION})")
    if not isinstance(unpickle(file, None, "system info pickle"), dict):
        raise CheckpointError("system info pickle is not a dict")
    storages = StorageTable()
    obj = unpickle(file, storages, "object pickle")
    keys = unpickle(file, None, "storage key list pickle")
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        raise CheckpointError(f"storage key list is not a list of str: {keys!r:.80}")
    file_size = os.fstat(file.fileno()).st_size
    for key in keys:
        if key not in storages.declared or key in storages.raw:
            raise CheckpointError(f"storage key {key!r} listed but not used once by the object")
        element, numel = storages.declared[key]
        header = file.read(8)
        if len(header) != 8:
            raise CheckpointError(f"file ends before the size of storage {key!r} (truncated)")
        (count,) = struct.unpack("<q", header)
        if count != numel:
            raise CheckpointError(f"storage {key!r} is declared with {numel} elements "
                                  f"but its data says {count}")
        nbytes = numel * element.itemsize
        if file.tell() + nbytes > file_size:
            raise CheckpointError(f"file ends inside storage {key!r}: needs {nbytes} bytes, "
                                  f"{file_size - file.tell()} left (truncated)")
        storages.raw[key] = file.read(nbytes)
    missing = sorted(set(storages.declared) - set(storages.raw))
    if missing:
        raise CheckpointError(f"storages {missing[:5]} are used but have no data")
    return _resolve(obj, storages, "little", {})


def _zip_prefix(archive: zipfile.ZipFile) -> str:
    """The archive's top folder, the one holding data.pkl (torch names it after the file)."""
    prefixes = [n[: -len("/data.pkl")] for n in archive.namelist()
                if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(prefixes) != 1:
        raise CheckpointError(f"zip archive holds {len(prefixes)} '<prefix>/data.pkl' records, "
                              f"expected exactly 1: not a torch.save zip checkpoint")
    return prefixes[0]


def _read_record(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except KeyError:
        raise CheckpointError(f"zip archive has no record {name!r}") from None
    except Exception as exc:  # BadZipFile (CRC), zlib.error, EOFError: a damaged archive
        raise CheckpointError(f"cannot read zip record {name!r}: {type(exc).__name__}: {exc}") from exc


def _load_zip(path) -> object:
    """Read ``<prefix>/data.pkl`` with storages from ``<prefix>/data/<key>``."""
    try:
        archive = zipfile.ZipFile(path)
    except Exception as exc:  # BadZipFile, EOFError, ValueError...: a damaged archive
        raise CheckpointError(f"corrupt or truncated zip archive: {exc}") from exc
    with archive:
        prefix = _zip_prefix(archive)
        byteorder = "little"
        if f"{prefix}/byteorder" in archive.namelist():
            byteorder = _read_record(archive, f"{prefix}/byteorder").decode("ascii", "replace")
            if byteorder not in ("little", "big"):
                raise CheckpointError(f"byteorder record says {byteorder!r:.20}, not little/big")
        storages = StorageTable(read_record=lambda key: _read_record(archive, f"{prefix}/data/{key}"))
        data = _read_record(archive, f"{prefix}/data.pkl")
        obj = unpickle(io.BytesIO(data), storages, "data.pkl")
        return _resolve(obj, storages, byteorder, {})


def load_torch_checkpoint(path: str | os.PathLike) -> object:
    """The object saved by ``torch.save`` at ``path``, each tensor a NumPy array.

    Tensors (and Parameters) become C-contiguous copies with their dtype, shape, strides and
    storage offset honoured (bfloat16 widens exactly to float32); OrderedDicts become dicts in
    the same order (a :class:`DictWithAttributes` when they carried attributes), ``torch.Size``
    a tuple, ``torch.device`` and dtypes their names as str. Raises :class:`CheckpointError`
    naming ``path`` for a damaged or unsupported file (complex tensors, Python sets, storage
    views of PyTorch < 1.0), :class:`UnsafeCheckpointError` when the pickle asks for any global
    outside the allow-list.
    """
    try:
        with open(path, "rb") as file:
            head = file.read(32)
            if head.startswith(_ZIP_SIGNATURE):
                file.close()
                return _load_zip(path)
            if head[:1] == b"\x80" and _LEGACY_MAGIC_OPCODE in head:
                file.seek(0)
                return _load_legacy(file)
            raise CheckpointError(
                f"not a PyTorch checkpoint: starts with neither a zip signature nor the legacy "
                f"magic number (first bytes {head[:8]!r})")
    except CheckpointError as exc:
        raise type(exc)(f"{os.fspath(path)}: {exc}") from exc.__cause__
    except RecursionError as exc:
        raise CheckpointError(f"{os.fspath(path)}: object nested too deeply to read") from exc


def load_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The name -> array state dict of the checkpoint at ``path``.

    Takes the checkpoint's ``'state_dict'`` entry if it has one, else the checkpoint itself;
    raises :class:`CheckpointError` if that is not a dict whose every entry is a str name
    mapped to a tensor (nothing is dropped; use :func:`load_torch_checkpoint` for the rest).
    """
    checkpoint = load_torch_checkpoint(path)
    if isinstance(checkpoint, dict) and "state_dict" in checkpoint:
        state, where = checkpoint["state_dict"], "the 'state_dict' entry"
    else:
        state, where = checkpoint, "the checkpoint"
    if not isinstance(state, dict):
        raise CheckpointError(f"{os.fspath(path)}: {where} is a {type(state).__name__}, "
                              f"expected a dict of name -> tensor")
    bad = [f"{k!r}: {type(v).__name__}" for k, v in state.items()
           if not (isinstance(k, str) and isinstance(v, np.ndarray))]
    if bad:
        raise CheckpointError(f"{os.fspath(path)}: {where} is not a dict of name -> tensor; "
                              f"{len(bad)} other entries, e.g. {', '.join(bad[:5])}")
    return dict(state)
