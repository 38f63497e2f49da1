"""``minidl.save`` / ``minidl.load``: .npz archives of plain arrays, no pickle, nothing executed
on load, and nothing loaded that the manifest does not vouch for.

``save(obj, path)`` writes a zip of stored members. The first, ``__minidl_manifest__.npy``, is a
uint8 array holding UTF-8 JSON::

    {"format": "minidl.save", "version": 2, "max_depth": 32,
     "structure": <outline>,                    # dicts, lists, tuples, numbers, str, None
     "arrays": [{"member": "array0.npy", "shape": [3, 4], "dtype": "<f4",
                 "sha256": "<hex digest of the data bytes>"}, ...]}

where the outline is ``{"dict": [[key, node], ...]}``, ``{"list": [...]}``, ``{"tuple": [...]}``,
``{"value": v}`` or ``{"array": i}`` (the i-th entry of "arrays", each used exactly once). Keys
are str or int, kept apart from member names, so any key (``'allow_pickle'``, ``'x.npy'``, one
with a NUL) round-trips. ``np.load`` still reads every member as a plain array.

``load(path)`` checks the archive against its manifest: exactly the listed members, each with
its shape, dtype and checksum. An archive without a manifest (``np.savez`` output) loads as a
flat name -> array dict. Every problem is a :class:`SerializationError` naming the file.
Both refuse nesting deeper than ``MAX_DEPTH`` containers; ``save`` raises TypeError for what it
cannot store (a set, an object array: named by its place, e.g. ``the top level['a']``).
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .. import backend
from ..tensor import Tensor
from .files import atomic_write
from .npy import PLAIN_KINDS, NpyError, parse_npy
from .safetensors_io import is_safetensors, load_safetensors, save_safetensors
from .zipread import StoredZip

__all__ = ["MANIFEST", "MAX_DEPTH", "SerializationError", "load", "save"]

MANIFEST = "__minidl_manifest__.npy"
FORMAT, VERSION = "minidl.save", 2
MAX_DEPTH = 32          # containers inside containers, at the top level 1


class SerializationError(ValueError):
    """A file ``minidl.load`` cannot read (damaged, foreign, or refused), or an object nested
    too deeply for ``minidl.save``; the message names the file or the place in the object."""


# ----- saving ---------------------------------------------------------------------------------
def _is_array(value) -> bool:
    return isinstance(value, (np.ndarray, Tensor)) or backend.is_cupy_array(value)


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(array.reshape(-1).view(np.uint8) if array.size else b"").hexdigest()


def _outline(value, arrays: list, where: str, depth: int):
    """JSON-able description of value; its arrays (C-contiguous NumPy) go into ``arrays``."""
    if _is_array(value):
        array = np.ascontiguousarray(backend.to_device(getattr(value, "data", value), "cpu"))
        if array.dtype.kind not in PLAIN_KINDS or array.dtype.fields is not None:
            raise TypeError(
                f"save: the array at {where} has dtype {array.dtype}; only bool, int, uint, "
                f"float, complex and fixed-size string arrays can be stored without pickle")
        arrays.append(array)
        return {"array": len(arrays) - 1}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    if isinstance(value, (list, tuple, dict)) and depth >= MAX_DEPTH:
        raise SerializationError(f"save: {where} is nested more than MAX_DEPTH={MAX_DEPTH} "
                                 f"containers deep (or holds itself)")
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [_outline(v, arrays, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]}
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"save: dict keys must be str or int, got "
                                f"{type(k).__name__} at {where}")
            items.append([k, _outline(v, arrays, f"{where}[{k!r}]", depth + 1)])
        return {"dict": items}
    raise TypeError(f"save: cannot store {type(value).__name__} at {where} (arrays, numbers, "
                    f"strings, booleans, None, and dicts, lists and tuples of them only)")


def save(obj, path) -> Path:
    """Write ``obj`` to ``path`` (.npz added if missing), atomically: a name -> array mapping
    (``model.state_dict()``) or a checkpoint of dicts, lists and tuples holding arrays, numbers,
    strings, booleans and None (e.g. with ``optimizer.state_dict()``). Returns the path.
    A path ending in .safetensors writes a name -> array mapping in that format instead
    (minidl.serialization.safetensors_io, an optional extra)."""
    path = Path(path)
    if is_safetensors(path):
        return save_safetensors(obj, path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
    arrays: list[np.ndarray] = []
    structure = _outline(obj, arrays, "the top level", 0)
    entries = [{"member": f"array{i}.npy", "shape": list(a.shape), "dtype": a.dtype.str,
                "sha256": _digest(a)} for i, a in enumerate(arrays)]
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "max_depth": MAX_DEPTH,
                           "structure": structure, "arrays": entries}).encode()
    with atomic_write(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
        for name, array in [(MANIFEST, np.frombuffer(manifest, np.uint8))] + \
                [(e["member"], a) for e, a in zip(entries, arrays)]:
            with archive.open(name, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return path


# ----- loading --------------------------------------------------------------------------------
class _Reader:
    """Rebuilds an outline, each array taken once from the verified members."""

    def __init__(self, arrays: list[np.ndarray]):
        self.arrays, self.used = arrays, set()

    def build(self, node, depth: int):
        if not (isinstance(node, dict) and len(node) == 1):
            raise SerializationError(f"a structure node is {type(node).__name__}, expected a "
                                     f"one-entry object")
        (kind, content), = node.items()
        if kind == "value":
            if content is not None and not isinstance(content, (bool, int, float, str)):
                raise SerializationError(f"a value node holds a {type(content).__name__}")
            return content
        if kind == "array":
            if type(content) is not int or not 0 <= content < len(self.arrays):
                raise SerializationError(f"an array node names {str(content)[:40]!r}, not one "
                                         f"of the {len(self.arrays)} arrays")
            if content in self.used:
                raise SerializationError(f"array {content} is named twice in the structure")
            self.used.add(content)
            return self.arrays[content]
        if kind not in ("list", "tuple", "dict"):
            raise SerializationError(f"unknown structure node {kind[:40]!r}")
        if depth >= MAX_DEPTH:
            raise SerializationError(f"the structure is nested more than MAX_DEPTH={MAX_DEPTH} "
                                     f"containers deep")
        if not isinstance(content, list):
            raise SerializationError(f"a {kind} node holds a {type(content).__name__}")
        if kind != "dict":
            items = [self.build(n, depth + 1) for n in content]
            return items if kind == "list" else tuple(items)
        result = OrderedDict()
        for pair in content:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (str, int))
                    and not isinstance(pair[0], bool)):
                raise SerializationError("a dict node's item is not a [str or int key, node] pair")
            if pair[0] in result:
                raise SerializationError(f"a dict node repeats the key {str(pair[0])[:40]!r}")
            result[pair[0]] = self.build(pair[1], depth + 1)
        return result


def _manifest(archive: StoredZip) -> dict:
    raw = parse_npy(archive.read(MANIFEST), MANIFEST)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise SerializationError(f"{MANIFEST} is {raw.dtype} {raw.shape}, expected uint8 bytes")
    try:
        manifest = json.loads(raw.tobytes().decode("utf8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SerializationError(f"{MANIFEST} is not valid JSON ({type(exc).__name__})") from None
    if not (isinstance(manifest, dict) and manifest.get("format") == FORMAT
            and isinstance(manifest.get("arrays"), list) and "structure" in manifest):
        raise SerializationError(f"{MANIFEST} is not a {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise SerializationError(f"{MANIFEST} has version {str(manifest.get('version'))[:20]}, "
                                 f"this minidl reads version {VERSION}")
    return manifest


def _check_entry(entry, index: int) -> tuple[str, tuple, str, str]:
    if not (isinstance(entry, dict) and isinstance(entry.get("member"), str)
            and isinstance(entry.get("shape"), list) and isinstance(entry.get("dtype"), str)
            and isinstance(entry.get("sha256"), str)
            and all(type(d) is int and d >= 0 for d in entry["shape"])):
        raise SerializationError(f"manifest entry {index} is not {{member, shape, dtype, sha256}}")
    return entry["member"], tuple(entry["shape"]), entry["dtype"], entry["sha256"]


def _load_manifest_archive(archive: StoredZip):
    manifest = _manifest(archive)
    entries = [_check_entry(e, i) for i, e in enumerate(manifest["arrays"])]
    members = [member for member, *_ in entries]
    if sorted(members + [MANIFEST]) != sorted(archive.names) or len(set(members)) != len(members):
        extra = sorted(set(archive.names) - set(members) - {MANIFEST})[:5]
        missing = sorted(set(members) - set(archive.names))[:5]
        raise SerializationError(f"the archive's members do not match its manifest (not "
                                 f"listed: {extra}, missing: {missing})")
    arrays = []
    for member, shape, dtype, sha256 in entries:
        array = parse_npy(archive.read(member), member)
        if array.shape != shape or array.dtype.str != dtype:
            raise SerializationError(f"{member} holds {array.dtype.str} {array.shape}, the "
                                     f"manifest says {dtype[:20]} {shape}")
        if _digest(np.ascontiguousarray(array)) != sha256:
            raise SerializationError(f"{member}'s data does not match its SHA-256 in the "
                                     f"manifest (the file is damaged)")
        arrays.append(array)
    reader = _Reader(arrays)
    result = reader.build(manifest["structure"], 0)
    if len(reader.used) != len(arrays):
        raise SerializationError(f"{len(arrays) - len(reader.used)} arrays of the manifest are "
                                 f"not used by its structure")
    return result


def _load_plain_archive(archive: StoredZip) -> OrderedDict:
    """np.savez output: name.npy members, read as a flat name -> array dict."""
    result = OrderedDict()
    for member in archive.names:
        if not member.endswith(".npy") or member.startswith("__minidl"):
            raise SerializationError(
                f"member {member[:80]!r} is not a .npy array of np.savez, and the archive has no "
                f"{MANIFEST} (a file of an older minidl.save holds __minidl_structure__: load "
                f"it with that version and save it again)")
        result[member[:-len(".npy")]] = parse_npy(archive.read(member), member)
    return result


def load(path):
    """Read a .npz written by ``save``: the object saved (dicts as OrderedDicts, numbers as
    Python numbers, arrays as writable NumPy arrays), or a plain ``np.savez`` archive as an
    ordered name -> array dict. Raises FileNotFoundError, or SerializationError naming ``path``
    and the problem; memory stays within about twice the file's size."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load: no such file {path}")
    if is_safetensors(path):        # a name -> array OrderedDict (safetensors_io)
        return load_safetensors(path)
    try:
        with StoredZip(path, SerializationError) as archive:
            if MANIFEST in archive.infos:
                if archive.names[0] != MANIFEST or archive.infos[MANIFEST].header_offset != 0:
                    raise SerializationError(f"{MANIFEST} is not the archive's first member")
                return _load_manifest_archive(archive)
            return _load_plain_archive(archive)
    except (SerializationError, NpyError) as exc:
        raise SerializationError(f"load: {os.fspath(path)}: {exc}") from None
    except IsADirectoryError:
        raise SerializationError(f"load: {os.fspath(path)} is a folder, not a .npz file") from None
