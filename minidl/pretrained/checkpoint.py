"""Read PyTorch checkpoints (``torch.save`` files) into NumPy arrays without importing torch.

``torch.save`` has written two formats:

* legacy (torch < 1.6, or ``_use_new_zipfile_serialization=False``): one stream of pickles --
  magic number, protocol version, system info, the saved object, the list of storage keys --
  then each storage's raw little-endian bytes, preceded by its element count as an int64;
* zip (torch >= 1.6): ``<prefix>/data.pkl`` holds the object, ``<prefix>/data/<key>`` the raw
  bytes of each storage, ``<prefix>/byteorder`` their byte order.

Either way a tensor is pickled as a call to ``torch._utils._rebuild_tensor*`` whose first argument
is a storage, named by a pickle *persistent id* ``('storage', storage_type, key, location, numel)``.
The unpickler here resolves only an explicit allow-list of globals, each to a small function of
this module, so loading never runs code chosen by the file; any other global raises
:class:`UnsafeCheckpointError`. Tensors come back as C-contiguous, native-endian NumPy copies.
"""
from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass, field

import numpy as np

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


class CheckpointError(ValueError):
    """The file is not a readable PyTorch checkpoint: corrupt, truncated or unsupported."""


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint's pickle asked for a global outside the allow-list (it could run code)."""


class DictWithAttributes(dict):
    """A pickled ``OrderedDict`` that also carried instance attributes, kept in ``.attributes``.

    torch's ``state_dict()`` results carry ``_metadata``, the per-module version table.
    """

    def __init__(self, items=(), attributes=None):
        super().__init__(items)
        self.attributes = dict(attributes or {})


# --------------------------------------------------------------------------------------------
# Element types: torch dtype name -> how its bytes look on disk and how they become NumPy
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Element:
    name: str        # torch's dtype name, e.g. 'float32'
    raw: np.dtype    # the on-disk layout, little-endian

    @property
    def itemsize(self) -> int:
        return self.raw.itemsize

    def to_numpy(self, raw_view: np.ndarray) -> np.ndarray:
        """A C-contiguous native-endian copy of ``raw_view`` (any strides) as this dtype."""
        if self.name == "bfloat16":  # no NumPy bfloat16: widen exactly to float32
            bits = raw_view.astype(np.uint32, order="C") << np.uint32(16)
            return bits.view(np.float32)
        return np.array(raw_view, dtype=self.raw.newbyteorder("="), order="C", copy=True)


_ELEMENTS = {e.name: e for e in (
    _Element("float64", np.dtype("<f8")),
    _Element("float32", np.dtype("<f4")),
    _Element("float16", np.dtype("<f2")),
    _Element("bfloat16", np.dtype("<u2")),
    _Element("complex128", np.dtype("<c16")),
    _Element("complex64", np.dtype("<c8")),
    _Element("int64", np.dtype("<i8")),
    _Element("int32", np.dtype("<i4")),
    _Element("int16", np.dtype("<i2")),
    _Element("int8", np.dtype("i1")),
    _Element("uint64", np.dtype("<u8")),
    _Element("uint32", np.dtype("<u4")),
    _Element("uint16", np.dtype("<u2")),
    _Element("uint8", np.dtype("u1")),
    _Element("bool", np.dtype("?")),
)}

# torch.<Name>Storage -> element type; UntypedStorage holds bytes (the tensor carries its dtype).
_STORAGE_ELEMENTS = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "ComplexDoubleStorage": "complex128",
    "ComplexFloatStorage": "complex64", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
    "UntypedStorage": "uint8",
}


class _NoState:
    """Refuses pickle's BUILD opcode, which would otherwise overwrite the object's attributes."""

    def __setstate__(self, state):
        raise CheckpointError(f"unexpected pickled state for a {type(self).__name__.lstrip('_')}")


@dataclass(frozen=True)
class _StorageType(_NoState):
    """What ``torch.FloatStorage`` and friends resolve to: a marker naming the element type."""
    qualname: str
    element: _Element


@dataclass(frozen=True)
class _TorchDtype(_NoState):
    """What ``torch.float32`` and friends resolve to."""
    qualname: str
    element: _Element


# --------------------------------------------------------------------------------------------
# Placeholders built while unpickling; arrays are made once every storage's bytes are known
# --------------------------------------------------------------------------------------------

@dataclass(eq=False)
class _Storage(_NoState):
    """``numel`` elements of ``element``, starting ``offset`` elements into storage ``key``."""
    key: str
    element: _Element
    offset: int
    numel: int


@dataclass(eq=False)
class _Tensor(_NoState):
    """A strided view of a storage (offset and strides in elements of ``element``)."""
    storage: _Storage
    offset: int
    size: tuple
    stride: tuple
    element: _Element
    conj: bool = False
    neg: bool = False


class _OrderedDict(dict):
    """``collections.OrderedDict`` as unpickled: a dict that remembers any BUILD state."""

    def __setstate__(self, state):
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise CheckpointError(f"OrderedDict state must be a dict of attributes, got {state!r:.80}")
        self.attributes = state


def _is_int(x) -> bool:
    return type(x) is int


def _make_tensor(storage, storage_offset, size, stride, element, metadata) -> _Tensor:
    """Check a rebuild call's arguments (the tensor must lie inside its storage)."""
    if not isinstance(storage, _Storage):
        raise CheckpointError(f"tensor rebuilt from a {type(storage).__name__}, expected a storage")
    if not (_is_int(storage_offset) and storage_offset >= 0):
        raise CheckpointError(f"tensor storage offset must be an int >= 0, got {storage_offset!r}")
    for what, dims in (("size", size), ("stride", stride)):
        if not (isinstance(dims, tuple) and all(_is_int(d) and d >= 0 for d in dims)):
            raise CheckpointError(f"tensor {what} must be a tuple of ints >= 0, got {dims!r:.80}")
    if len(size) != len(stride):
        raise CheckpointError(f"tensor size {size} and stride {stride} differ in length")
    flags = {}
    for key, value in (metadata or {}).items():
        if key not in ("conj", "neg") or type(value) is not bool:
            raise CheckpointError(f"unsupported tensor metadata {key!r}: {value!r:.40}")
        flags[key] = value
    if flags.get("conj") and not element.name.startswith("complex"):
        raise CheckpointError(f"conjugate bit set on a {element.name} tensor")
    if all(size):
        needed = (storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1) * element.itemsize
        available = storage.numel * storage.element.itemsize
        if needed > available:
            raise CheckpointError(
                f"tensor of size {size}, stride {stride}, offset {storage_offset} needs {needed} "
                f"bytes but its storage {storage.key!r} has {available}")
    return _Tensor(storage, storage_offset, size, stride, element, **flags)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _make_tensor(storage, storage_offset, size, stride, _storage_element(storage), None)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       metadata=None):
    return _make_tensor(storage, storage_offset, size, stride, _storage_element(storage), metadata)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       dtype, metadata=None):
    if not isinstance(dtype, _TorchDtype):
        raise CheckpointError(f"_rebuild_tensor_v3 dtype must be a torch dtype, got {dtype!r:.80}")
    return _make_tensor(storage, storage_offset, size, stride, dtype.element, metadata)


def _storage_element(storage) -> _Element:
    if not isinstance(storage, _Storage):
        raise CheckpointError(f"tensor rebuilt from a {type(storage).__name__}, expected a storage")
    return storage.element


def _rebuild_parameter(data, requires_grad, backward_hooks):
    if not isinstance(data, _Tensor):
        raise CheckpointError(f"Parameter rebuilt from a {type(data).__name__}, expected a tensor")
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    if state:
        raise CheckpointError(f"Parameter carries Python attributes {list(state)!r:.80}; unsupported")
    return _rebuild_parameter(data, requires_grad, backward_hooks)


def _torch_size(dims=()):
    dims = tuple(dims)
    if not all(_is_int(d) for d in dims):
        raise CheckpointError(f"torch.Size must hold ints, got {dims!r:.80}")
    return dims


def _torch_device(kind, index=None):
    if not isinstance(kind, str) or not (index is None or _is_int(index)):
        raise CheckpointError(f"torch.device({kind!r:.40}, {index!r:.40}) is not a device")
    return kind if index is None else f"{kind}:{index}"


def _codecs_encode(text, encoding):
    """Protocol-2 pickles store ``bytes`` as ``_codecs.encode(latin1_text, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CheckpointError(f"_codecs.encode allowed only on str with latin1, got {encoding!r:.40}")
    return text.encode("latin1")


def _container(kind):
    def build(items=()):
        if not isinstance(items, (list, tuple)):
            raise CheckpointError(f"{kind.__name__}() expects a list, got {type(items).__name__}")
        return kind(items)
    return build


def _complex(real=0.0, imag=0.0):
    if not all(type(x) in (int, float) for x in (real, imag)):
        raise CheckpointError(f"complex() expects two numbers, got {real!r:.40}, {imag!r:.40}")
    return complex(real, imag)


class _AllowedCallable(_NoState):
    """An allow-listed global as the pickle sees it: callable, and closed to BUILD (which could
    otherwise rewrite a function's ``__defaults__`` for every later load)."""
    __slots__ = ("_function",)

    def __init__(self, function):
        self._function = function

    def __call__(self, *args):
        return self._function(*args)


def _allowed_globals() -> dict:
    callables = {
        ("collections", "OrderedDict"): _OrderedDict,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
        ("torch", "Size"): _torch_size,
        ("torch", "device"): _torch_device,
        ("_codecs", "encode"): _codecs_encode,
        ("builtins", "set"): _container(set),
        ("builtins", "frozenset"): _container(frozenset),
        ("builtins", "complex"): _complex,
    }
    allowed = {name: _AllowedCallable(function) for name, function in callables.items()}
    for name, element in _STORAGE_ELEMENTS.items():
        modules = ("torch", "torch.storage") if name == "UntypedStorage" else ("torch", "torch.cuda")
        for module in modules:
            allowed[module, name] = _StorageType(f"{module}.{name}", _ELEMENTS[element])
    for name, element in _ELEMENTS.items():
        allowed["torch", name] = _TorchDtype(f"torch.{name}", element)
    return allowed


_ALLOWED_GLOBALS = _allowed_globals()
_MODULE_ALIASES = {"__builtin__": "builtins"}  # protocol-2 pickles name Python 2's module


# --------------------------------------------------------------------------------------------
# Storages and the restricted unpickler
# --------------------------------------------------------------------------------------------

@dataclass
class _StorageTable:
    """Storages the pickle declares (key -> element type, count) and, once read, their bytes.

    ``read_record(key)`` (zip format) fetches a storage's bytes when it is first declared;
    the legacy reader fills ``raw`` itself after the object pickle.
    """
    read_record: object = None
    declared: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)

    def declare(self, key: str, element: _Element, numel: int) -> None:
        nbytes = numel * element.itemsize
        if key in self.declared:
            first_element, first_numel = self.declared[key]
            if first_numel * first_element.itemsize != nbytes:
                raise CheckpointError(f"storage {key!r} declared with {nbytes} bytes and with "
                                      f"{first_numel * first_element.itemsize}")
            return
        self.declared[key] = (element, numel)
        if self.read_record is not None:
            data = self.read_record(key)
            if len(data) != nbytes:
                raise CheckpointError(f"storage {key!r} should hold {numel} {element.name} "
                                      f"({nbytes} bytes) but its record has {len(data)} bytes")
            self.raw[key] = data


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only the allow-listed globals; storages come from ``storages``."""

    def __init__(self, file, storages: _StorageTable | None):
        super().__init__(file, encoding="utf-8")  # str of Python 2 pickles, as torch.load reads them
        self._storages = storages

    def find_class(self, module, name):
        target = _ALLOWED_GLOBALS.get((_MODULE_ALIASES.get(module, module), name))
        if target is None:
            raise UnsafeCheckpointError(
                f"refused to load the global {module}.{name}: only the globals needed to rebuild "
                f"tensors and plain containers are allowed, as loading anything else could run code")
        return target

    def persistent_load(self, pid):
        if self._storages is None:
            raise CheckpointError(f"a persistent id {pid!r:.80} where no storage may appear")
        if not isinstance(pid, tuple) or not pid:
            raise CheckpointError(f"persistent id must be a tuple, got {pid!r:.80}")
        kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if kind != "storage":
            raise CheckpointError(f"unsupported persistent id {kind!r:.40} (a pickled nn.Module? "
                                  f"save and load its state_dict() instead)")
        if len(pid) not in (5, 6):
            raise CheckpointError(f"storage persistent id must have 5 or 6 fields, got {len(pid)}")
        storage_type, key, location, numel = pid[1:5]
        view = pid[5] if len(pid) == 6 else None
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError(f"storage type must be a torch storage class, got {storage_type!r:.80}")
        if not (isinstance(key, str) and isinstance(location, str) and _is_int(numel) and numel >= 0):
            raise CheckpointError(f"malformed storage persistent id {pid!r:.120}")
        self._storages.declare(key, storage_type.element, numel)
        if view is None:
            return _Storage(key, storage_type.element, 0, numel)
        # very old files: (view_key, offset, size) -- a window, in elements, into the storage
        if not (isinstance(view, tuple) and len(view) == 3 and all(_is_int(v) for v in view[1:])
                and 0 <= view[1] and 0 <= view[2] and view[1] + view[2] <= numel):
            raise CheckpointError(f"storage view {view!r:.80} does not fit storage {key!r} of {numel}")
        return _Storage(key, storage_type.element, view[1], view[2])


def _unpickle(file, storages: _StorageTable | None, what: str):
    """One pickle from ``file``; any failure becomes a CheckpointError saying ``what`` it was."""
    try:
        return _RestrictedUnpickler(file, storages).load()
    except CheckpointError:
        raise
    except Exception as exc:  # the data is untrusted: every parser failure means a corrupt file
        raise CheckpointError(f"corrupt {what}: {type(exc).__name__}: {exc}") from exc


# --------------------------------------------------------------------------------------------
# From placeholders to arrays
# --------------------------------------------------------------------------------------------

def _materialize(tensor: _Tensor, raw: bytes, byteorder: str) -> np.ndarray:
    """The tensor's elements as a fresh C-contiguous array of shape ``tensor.size``."""
    element, size = tensor.element, tensor.size
    if not all(size):
        return element.to_numpy(np.zeros(size, dtype=element.raw))
    itemsize = element.itemsize
    raw_dtype = element.raw.newbyteorder(">") if byteorder == "big" else element.raw
    span = sum((n - 1) * s for n, s in zip(size, tensor.stride)) + 1
    start = tensor.storage.offset * tensor.storage.element.itemsize + tensor.offset * itemsize
    flat = np.frombuffer(raw, dtype=raw_dtype, count=span, offset=start)
    view = np.lib.stride_tricks.as_strided(
        flat, shape=size, strides=tuple(s * itemsize for s in tensor.stride), writeable=False)
    out = element.to_numpy(view)
    if tensor.conj:
        np.conjugate(out, out=out)
    if tensor.neg:
        np.negative(out, out=out)
    return out


def _resolve(obj, storages: _StorageTable, byteorder: str, memo: dict):
    """``obj`` with placeholders replaced: tensors -> arrays, OrderedDicts -> dicts."""
    key = id(obj)  # the pickled tree keeps obj alive, so its id stays unique meanwhile
    if key in memo:
        return memo[key]
    if isinstance(obj, _Storage):  # a storage saved on its own: its elements, 1-D
        obj = _Tensor(obj, 0, (obj.numel,), (1,), obj.element)
    if isinstance(obj, _Tensor):
        result = _materialize(obj, storages.raw[obj.storage.key], byteorder)
    elif isinstance(obj, (_StorageType, _TorchDtype)):
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
    elif isinstance(obj, (set, frozenset)):
        items = [_resolve(v, storages, byteorder, memo) for v in obj]
        if any(isinstance(v, np.ndarray) for v in items):
            raise CheckpointError("a tensor inside a set cannot become a NumPy array")
        result = type(obj)(items)
    else:  # None, bool, int, float, complex, str, bytes
        result = obj
    memo[key] = result
    return result


# --------------------------------------------------------------------------------------------
# The two file formats
# --------------------------------------------------------------------------------------------

def _load_legacy(file) -> object:
    """Read the legacy pickle stream followed by the raw storages."""
    magic = _unpickle(file, None, "magic number pickle")
    if magic != LEGACY_MAGIC_NUMBER:
        raise CheckpointError(f"bad magic number {magic!r:.40}: not a legacy torch.save file")
    version = _unpickle(file, None, "protocol version pickle")
    if version != LEGACY_PROTOCOL_VERSION:
        raise CheckpointError(f"unsupported legacy protocol version {version!r:.40} "
                              f"(expected {LEGACY_PROTOCOL_VERSION})")
    if not isinstance(_unpickle(file, None, "system info pickle"), dict):
        raise CheckpointError("system info pickle is not a dict")
    storages = _StorageTable()
    obj = _unpickle(file, storages, "object pickle")
    keys = _unpickle(file, None, "storage key list pickle")
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
        storages = _StorageTable(read_record=lambda key: _read_record(archive, f"{prefix}/data/{key}"))
        data = _read_record(archive, f"{prefix}/data.pkl")
        obj = _unpickle(io.BytesIO(data), storages, "data.pkl")
        return _resolve(obj, storages, byteorder, {})


def load_torch_checkpoint(path: str | os.PathLike) -> object:
    """The object saved by ``torch.save`` at ``path``, each tensor a NumPy array.

    Tensors (and Parameters) become C-contiguous copies with their dtype, shape, strides and
    storage offset honoured (bfloat16 widens exactly to float32); OrderedDicts become dicts in
    the same order (a :class:`DictWithAttributes` when they carried attributes), ``torch.Size``
    a tuple, ``torch.device`` and dtypes their names as str. Raises :class:`CheckpointError`
    naming ``path`` for a damaged or unsupported file, :class:`UnsafeCheckpointError` when the
    pickle asks for any global outside the allow-list.
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
