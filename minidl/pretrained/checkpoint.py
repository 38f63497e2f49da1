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
import math
import os
import struct

import numpy as np

from ..serialization.zipread import StoredZip
from .errors import CheckpointError, UnsafeCheckpointError, brief
from .unpickler import StorageRef, StorageTable, TensorRef, TypeMarker, unpickle

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

class _Resolver:
    """Replaces placeholders: tensors -> arrays, OrderedDicts -> dicts, each object once.

    The arrays made may hold at most ``2 * stored + 1 MiB`` bytes, ``stored`` being the bytes of
    the storages: a view with zero or overlapping strides (a 4-byte storage seen as 2^29
    elements) would otherwise turn a small file into a huge copy.
    """

    def __init__(self, storages: StorageTable, byteorder: str):
        self.storages, self.byteorder, self.memo = storages, byteorder, {}
        stored = sum(len(raw) for raw in storages.raw.values())
        self.left = 2 * stored + (1 << 20)

    def array(self, tensor: TensorRef) -> np.ndarray:
        """The tensor's elements as a fresh C-contiguous array of shape ``tensor.size``."""
        element, size = tensor.element, tensor.size
        self.left -= math.prod(size) * element.itemsize
        if self.left < 0:
            raise CheckpointError(
                f"its tensors' views repeat their storages' bytes (zero or overlapping strides, "
                f"e.g. size {brief(size)} stride {brief(tensor.stride)}) into more than twice "
                f"the bytes stored; refused")
        if not all(size):
            return element.to_numpy(np.zeros(size, dtype=element.raw))
        itemsize = element.itemsize
        raw_dtype = element.raw.newbyteorder(">") if self.byteorder == "big" else element.raw
        span = sum((n - 1) * s for n, s in zip(size, tensor.stride)) + 1
        flat = np.frombuffer(self.storages.raw[tensor.storage.key], dtype=raw_dtype, count=span,
                             offset=tensor.offset * itemsize)
        view = np.lib.stride_tricks.as_strided(
            flat, shape=size, strides=tuple(s * itemsize for s in tensor.stride), writeable=False)
        return element.to_numpy(view)

    def __call__(self, obj):
        key = id(obj)  # the pickled tree keeps obj alive, so its id stays unique meanwhile
        if key in self.memo:
            return self.memo[key]
        if isinstance(obj, StorageRef):  # a storage saved on its own: its elements, 1-D
            obj = TensorRef(obj, 0, (obj.numel,), (1,), obj.element)
        if isinstance(obj, TensorRef):
            result = self.array(obj)
        elif isinstance(obj, TypeMarker):
            result = obj.qualname
        elif isinstance(obj, dict):
            attributes = getattr(obj, "attributes", None)
            result = DictWithAttributes() if attributes else {}
            self.memo[key] = result
            for name, value in obj.items():
                name = self(name)
                if isinstance(name, np.ndarray):
                    raise CheckpointError("a tensor used as a dict key cannot become a NumPy array")
                result[name] = self(value)
            if attributes:
                result.attributes = self(attributes)
        elif isinstance(obj, list):
            result = []
            self.memo[key] = result
            result.extend(self(v) for v in obj)
        elif isinstance(obj, tuple):
            result = tuple(self(v) for v in obj)
        else:  # None, bool, int, float, str, bytes
            result = obj
        self.memo[key] = result
        return result


# --------------------------------------------------------------------------------------------
# The two file formats
# --------------------------------------------------------------------------------------------

def _load_legacy(data: bytes) -> object:
    """Read the legacy pickle stream followed by the raw storages (all of ``data``)."""
    stream = io.BytesIO(data)
    magic = unpickle(stream, None, "magic number pickle")
    if magic != LEGACY_MAGIC_NUMBER:
        raise CheckpointError(f"bad magic number {brief(magic)}: not a legacy torch.save file")
    version = unpickle(stream, None, "protocol version pickle")
    if version != LEGACY_PROTOCOL_VERSION:
        raise CheckpointError(f"unsupported legacy protocol version {brief(version)} "
                              f"(expected {LEGACY_PROTOCOL_VERSION})")
    if not isinstance(unpickle(stream, None, "system info pickle"), dict):
        raise CheckpointError("system info pickle is not a dict")
    storages = StorageTable()
    obj = unpickle(stream, storages, "object pickle")
    keys = unpickle(stream, None, "storage key list pickle")
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        raise CheckpointError(f"storage key list is not a list of str: {brief(keys)}")
    position, view = stream.tell(), memoryview(data)
    for key in keys:
        if key not in storages.declared or key in storages.raw:
            raise CheckpointError(f"storage key {brief(key)} listed but not used once by the object")
        element, numel = storages.declared[key]
        if position + 8 > len(data):
            raise CheckpointError(f"file ends before the size of storage {brief(key)} (truncated)")
        (count,) = struct.unpack_from("<q", data, position)
        if count != numel:
            raise CheckpointError(f"storage {brief(key)} is declared with {numel} elements "
                                  f"but its data says {count}")
        nbytes, position = numel * element.itemsize, position + 8
        if position + nbytes > len(data):
            raise CheckpointError(f"file ends inside storage {brief(key)}: needs {nbytes} bytes, "
                                  f"{len(data) - position} left (truncated)")
        storages.raw[key] = view[position:position + nbytes]
        position += nbytes
    missing = sorted(set(storages.declared) - set(storages.raw))
    if missing:
        raise CheckpointError(f"storages {brief(missing)} are used but have no data")
    return _Resolver(storages, "little")(obj)


def _zip_prefix(names: list[str]) -> str:
    """The archive's top folder, the one holding data.pkl (torch names it after the file)."""
    prefixes = [n[: -len("/data.pkl")] for n in names
                if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(prefixes) != 1:
        raise CheckpointError(f"zip archive holds {len(prefixes)} '<prefix>/data.pkl' records, "
                              f"expected exactly 1: not a torch.save zip checkpoint")
    return prefixes[0]


def _load_zip(path) -> object:
    """Read ``<prefix>/data.pkl`` with storages from ``<prefix>/data/<key>`` (stored records,
    each one's declared size checked before it is read)."""
    with StoredZip(path, CheckpointError) as archive:
        prefix = _zip_prefix(archive.names)
        byteorder = "little"
        if f"{prefix}/byteorder" in archive.infos:
            if archive.size(f"{prefix}/byteorder") > 16:
                raise CheckpointError("byteorder record is longer than 'little' or 'big'")
            byteorder = bytes(archive.read(f"{prefix}/byteorder")).decode("ascii", "replace")
            if byteorder not in ("little", "big"):
                raise CheckpointError(f"byteorder record says {brief(byteorder)}, not little/big")

        def read_storage(key: str, nbytes: int) -> bytearray:
            name = f"{prefix}/data/{key}"
            if name in archive.infos and archive.size(name) != nbytes:
                raise CheckpointError(f"storage {brief(key)} should hold {nbytes} bytes but its "
                                      f"record has {archive.size(name)} bytes")
            return archive.read(name)

        storages = StorageTable(read_record=read_storage)
        data = bytes(archive.read(f"{prefix}/data.pkl"))
        obj = unpickle(io.BytesIO(data), storages, "data.pkl")
        return _Resolver(storages, byteorder)(obj)


def load_torch_checkpoint(path: str | os.PathLike) -> object:
    """The object saved by ``torch.save`` at ``path``, each tensor a NumPy array.

    Tensors (and Parameters) become C-contiguous copies with their dtype, shape, strides and
    storage offset honoured (bfloat16 widens exactly to float32); OrderedDicts become dicts in
    the same order (a :class:`DictWithAttributes` when they carried attributes), ``torch.Size``
    a tuple, ``torch.device`` and dtypes their names as str. Raises :class:`CheckpointError`
    naming ``path`` for a damaged or unsupported file (complex tensors, Python sets, storage
    views of PyTorch < 1.0, compressed zip records, views repeating their storage's bytes),
    :class:`UnsafeCheckpointError` when the pickle asks for any global outside the allow-list.
    Memory stays within a small multiple of the file's size (about 3x for the tensors; at most
    about 100 bytes per byte of pickle) and time within a multiple of it.
    """
    try:
        with open(path, "rb") as file:
            head = file.read(32)
            if head.startswith(_ZIP_SIGNATURE):
                file.close()
                return _load_zip(path)
            if head[:1] == b"\x80" and _LEGACY_MAGIC_OPCODE in head:
                file.seek(0)
                return _load_legacy(file.read())
            raise CheckpointError(
                f"not a PyTorch checkpoint: starts with neither a zip signature nor the legacy "
                f"magic number (first bytes {head[:8]!r})")
    except CheckpointError as exc:
        raise type(exc)(f"{os.fspath(path)}: {exc}") from exc.__cause__
    except IsADirectoryError:
        raise CheckpointError(f"{os.fspath(path)} is a folder, not a checkpoint file") from None
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
    bad = [f"{brief(k)}: {type(v).__name__}" for k, v in state.items()
           if not (isinstance(k, str) and isinstance(v, np.ndarray))]
    if bad:
        raise CheckpointError(f"{os.fspath(path)}: {where} is not a dict of name -> tensor; "
                              f"{len(bad)} other entries, e.g. {', '.join(bad[:5])}")
    return dict(state)
