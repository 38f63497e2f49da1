"""The restricted unpickler for ``torch.save`` pickles: an allow-list of globals, so loading a
checkpoint never runs code chosen by the file.

A tensor is pickled as a call to ``torch._utils._rebuild_tensor*`` whose first argument is a
storage, named by a pickle *persistent id* ``('storage', storage_type, key, location, numel)``;
legacy files add a sixth field, always None since PyTorch 1.0 (storage views were removed in
2018). Each allowed global resolves to a small checked function or marker of this module, any
other raises :class:`UnsafeCheckpointError`. Unpickling yields placeholders (:class:`StorageRef`,
:class:`TensorRef`, :class:`OrderedDictState`); ``minidl.pretrained.checkpoint`` turns them into
NumPy arrays once every storage's bytes are known.
"""
from __future__ import annotations

import io
import math
import pickle
from dataclasses import dataclass, field

import numpy as np

from .errors import CheckpointError, UnsafeCheckpointError, brief
from .prescan import prescan

__all__ = ["CheckpointError", "UnsafeCheckpointError", "Element", "OrderedDictState", "StorageRef",
           "StorageTable", "TensorRef", "TypeMarker", "unpickle"]


# --------------------------------------------------------------------------------------------
# Element types: torch dtype name -> how its bytes look on disk and how they become NumPy
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Element:
    """One torch element type: its dtype name (e.g. 'float32') and little-endian disk layout."""
    name: str
    raw: np.dtype

    @property
    def itemsize(self) -> int:
        return self.raw.itemsize

    def to_numpy(self, raw_view: np.ndarray) -> np.ndarray:
        """A C-contiguous native-endian copy of ``raw_view`` (any strides) as this dtype."""
        if self.name == "bfloat16":  # no NumPy bfloat16: widen exactly to float32
            bits = raw_view.astype(np.uint32, order="C") << np.uint32(16)
            return bits.view(np.float32)
        return np.array(raw_view, dtype=self.raw.newbyteorder("="), order="C", copy=True)


ELEMENTS = {e.name: e for e in (
    Element("float64", np.dtype("<f8")), Element("float32", np.dtype("<f4")),
    Element("float16", np.dtype("<f2")), Element("bfloat16", np.dtype("<u2")),
    Element("int64", np.dtype("<i8")), Element("int32", np.dtype("<i4")),
    Element("int16", np.dtype("<i2")), Element("int8", np.dtype("i1")),
    Element("uint64", np.dtype("<u8")), Element("uint32", np.dtype("<u4")),
    Element("uint16", np.dtype("<u2")), Element("uint8", np.dtype("u1")),
    Element("bool", np.dtype("?")),
)}

# torch.<Name>Storage -> element type; torch.storage.UntypedStorage holds bytes (the tensor,
# rebuilt by _rebuild_tensor_v3, carries its dtype).
_STORAGE_ELEMENTS = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
}

# Harmless globals that no CNN checkpoint holds: refused with a plain CheckpointError.
_UNSUPPORTED = {
    **{("torch", name): "complex tensors" for name in
       ("ComplexFloatStorage", "ComplexDoubleStorage", "complex64", "complex128")},
    **{(module, name): f"Python {name} objects" for module in ("builtins", "__builtin__")
       for name in ("set", "frozenset", "complex")},
}


class _NoState:
    """Refuses pickle's BUILD opcode, which would otherwise overwrite the object's attributes."""

    def __setstate__(self, state):
        raise CheckpointError(f"unexpected pickled state for a {type(self).__name__.lstrip('_')}")


@dataclass(frozen=True)
class TypeMarker(_NoState):
    """What ``torch.FloatStorage`` (kind 'storage') or ``torch.float32`` (kind 'dtype') resolves
    to: its name and element type."""
    qualname: str
    element: Element
    kind: str


# --------------------------------------------------------------------------------------------
# Placeholders built while unpickling
# --------------------------------------------------------------------------------------------

@dataclass(eq=False)
class StorageRef(_NoState):
    """Storage ``key``: ``numel`` elements of ``element``."""
    key: str
    element: Element
    numel: int


@dataclass(eq=False)
class TensorRef(_NoState):
    """A strided view of a storage (offset and strides in elements of ``element``)."""
    storage: StorageRef
    offset: int
    size: tuple
    stride: tuple
    element: Element


class OrderedDictState(dict):
    """``collections.OrderedDict`` as unpickled: a dict that keeps any BUILD state in
    ``attributes`` (torch's state dicts carry ``_metadata``, the per-module versions)."""

    def __setstate__(self, state):
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise CheckpointError(f"OrderedDict state must be a dict of attributes, got {brief(state)}")
        self.attributes = state


MAX_NDIM = 64              # NumPy's limit on dimensions
_MAX_BYTES = 2 ** 62       # larger than any real tensor; keeps NumPy's sizes and strides in range


def _is_int(x) -> bool:
    return type(x) is int


def _make_tensor(storage, storage_offset, size, stride, element, metadata) -> TensorRef:
    """Check a rebuild call's arguments (the tensor must lie inside its storage)."""
    if not isinstance(storage, StorageRef):
        raise CheckpointError(f"tensor rebuilt from a {type(storage).__name__}, expected a storage")
    if not (_is_int(storage_offset) and storage_offset >= 0):
        raise CheckpointError(f"tensor storage offset must be an int >= 0, got {brief(storage_offset)}")
    for what, dims in (("size", size), ("stride", stride)):
        if not (isinstance(dims, tuple) and all(_is_int(d) and d >= 0 for d in dims)):
            raise CheckpointError(f"tensor {what} must be a tuple of ints >= 0, got {brief(dims)}")
    if len(size) != len(stride):
        raise CheckpointError(f"tensor size {brief(size)} and stride {brief(stride)} differ in length")
    if len(size) > MAX_NDIM:
        raise CheckpointError(f"tensor has {len(size)} dimensions, more than NumPy's {MAX_NDIM}")
    if metadata:  # torch writes only the conj/neg bits of complex views here
        raise CheckpointError(f"unsupported tensor metadata {brief(metadata)}")
    if math.prod(n for n in size if n) * element.itemsize > _MAX_BYTES or \
            any(s * element.itemsize > _MAX_BYTES for s in stride):
        raise CheckpointError(f"tensor of size {brief(size)}, stride {brief(stride)} is impossibly large")
    if all(size):
        needed = (storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1) * element.itemsize
        available = storage.numel * storage.element.itemsize
        if needed > available:
            raise CheckpointError(
                f"tensor of size {brief(size)}, stride {brief(stride)}, offset {storage_offset} "
                f"needs {needed} bytes but its storage {brief(storage.key)} has {available}")
    return TensorRef(storage, storage_offset, size, stride, element)


def _storage_element(storage) -> Element:
    if not isinstance(storage, StorageRef):
        raise CheckpointError(f"tensor rebuilt from a {type(storage).__name__}, expected a storage")
    return storage.element


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _make_tensor(storage, storage_offset, size, stride, _storage_element(storage), None)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       metadata=None):
    return _make_tensor(storage, storage_offset, size, stride, _storage_element(storage), metadata)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       dtype, metadata=None):
    if not (isinstance(dtype, TypeMarker) and dtype.kind == "dtype"):
        raise CheckpointError(f"_rebuild_tensor_v3 dtype must be a torch dtype, got {brief(dtype)}")
    return _make_tensor(storage, storage_offset, size, stride, dtype.element, metadata)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    if not isinstance(data, TensorRef):
        raise CheckpointError(f"Parameter rebuilt from a {type(data).__name__}, expected a tensor")
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    if state:
        raise CheckpointError(f"Parameter carries Python attributes {brief(list(state))}; unsupported")
    return _rebuild_parameter(data, requires_grad, backward_hooks)


def _torch_size(dims=()):
    dims = tuple(dims)
    if not all(_is_int(d) for d in dims):
        raise CheckpointError(f"torch.Size must hold ints, got {brief(dims)}")
    return dims


def _torch_device(kind, index=None):
    if not isinstance(kind, str) or not (index is None or _is_int(index)):
        raise CheckpointError(f"torch.device({brief(kind)}, {brief(index)}) is not a device")
    return kind if index is None else f"{kind}:{index}"


def _codecs_encode(text, encoding):
    """Protocol-2 pickles store ``bytes`` as ``_codecs.encode(latin1_text, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CheckpointError(f"_codecs.encode allowed only on str with latin1, got {brief(encoding)}")
    return text.encode("latin1")


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
        ("collections", "OrderedDict"): OrderedDictState,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
        ("torch", "Size"): _torch_size,
        ("torch", "device"): _torch_device,
        ("_codecs", "encode"): _codecs_encode,
    }
    allowed = {name: _AllowedCallable(function) for name, function in callables.items()}
    for name, element in _STORAGE_ELEMENTS.items():
        allowed["torch", name] = TypeMarker(f"torch.{name}", ELEMENTS[element], "storage")
    allowed["torch.storage", "UntypedStorage"] = TypeMarker("torch.storage.UntypedStorage",
                                                            ELEMENTS["uint8"], "storage")
    for name, element in ELEMENTS.items():
        allowed["torch", name] = TypeMarker(f"torch.{name}", element, "dtype")
    return allowed


_ALLOWED_GLOBALS = _allowed_globals()


# --------------------------------------------------------------------------------------------
# Storages and the restricted unpickler
# --------------------------------------------------------------------------------------------

@dataclass
class StorageTable:
    """Storages the pickle declares (key -> element type, count) and, once read, their bytes.

    ``read_record(key, nbytes)`` (zip format) fetches a storage's bytes when it is first
    declared, checking the record's size before reading it; the legacy reader fills ``raw``
    itself after the object pickle.
    """
    read_record: object = None
    declared: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)

    def declare(self, key: str, element: Element, numel: int) -> None:
        nbytes = numel * element.itemsize
        if key in self.declared:
            first_element, first_numel = self.declared[key]
            if first_numel * first_element.itemsize != nbytes:
                raise CheckpointError(f"storage {brief(key)} declared with {nbytes} bytes and with "
                                      f"{first_numel * first_element.itemsize}")
            return
        self.declared[key] = (element, numel)
        if self.read_record is not None:
            data = self.read_record(key, nbytes)
            if len(data) != nbytes:
                raise CheckpointError(f"storage {brief(key)} should hold {numel} {element.name} "
                                      f"({nbytes} bytes) but its record has {len(data)} bytes")
            self.raw[key] = data


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only the allow-listed globals; storages come from ``storages``."""

    def __init__(self, file, storages: StorageTable | None):
        super().__init__(file, encoding="utf-8")  # str of Python 2 pickles, as torch.load reads them
        self._storages = storages

    def find_class(self, module, name):
        target = _ALLOWED_GLOBALS.get((module, name))
        if target is not None:
            return target
        if (module, name) in _UNSUPPORTED:
            raise CheckpointError(f"the checkpoint holds {_UNSUPPORTED[module, name]} "
                                  f"({module}.{name}), which this reader does not support")
        raise UnsafeCheckpointError(
            f"refused to load the global {module}.{name}: only the globals needed to rebuild "
            f"tensors and plain containers are allowed, as loading anything else could run code")

    def persistent_load(self, pid):
        if self._storages is None:
            raise CheckpointError(f"a persistent id {brief(pid)} where no storage may appear")
        if not isinstance(pid, tuple) or not pid:
            raise CheckpointError(f"persistent id must be a tuple, got {brief(pid)}")
        kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if kind != "storage":
            raise CheckpointError(f"unsupported persistent id {brief(kind)} (a pickled nn.Module? "
                                  f"save and load its state_dict() instead)")
        if len(pid) not in (5, 6):
            raise CheckpointError(f"storage persistent id must have 5 or 6 fields, got {len(pid)}")
        storage_type, key, location, numel = pid[1:5]
        if len(pid) == 6 and pid[5] is not None:
            raise CheckpointError(f"storage view {brief(pid[5])} (written by PyTorch < 1.0) is not "
                                  f"supported")
        if not (isinstance(storage_type, TypeMarker) and storage_type.kind == "storage"):
            raise CheckpointError(f"storage type must be a torch storage class, got {brief(storage_type)}")
        if not (isinstance(key, str) and isinstance(location, str) and _is_int(numel) and numel >= 0):
            raise CheckpointError(f"malformed storage persistent id {brief(pid)}")
        self._storages.declare(key, storage_type.element, numel)
        return StorageRef(key, storage_type.element, numel)


def unpickle(stream: io.BytesIO, storages: StorageTable | None, what: str):
    """One pickle from ``stream`` (in memory, so no declared length makes a read allocate more
    than the file holds), first checked by ``prescan``; any failure becomes a CheckpointError
    saying ``what`` it was. The stream is left after the pickle's STOP."""
    start = stream.tell()
    prescan(stream, what)
    stream.seek(start)
    try:
        return _RestrictedUnpickler(stream, storages).load()
    except CheckpointError:
        raise
    except Exception as exc:  # the data is untrusted: every parser failure means a corrupt file
        raise CheckpointError(f"corrupt {what}: {type(exc).__name__}: {exc}") from exc
