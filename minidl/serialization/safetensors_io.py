"""safetensors files (Hugging Face's weight format) through the ``safetensors`` package's NumPy API.

A .safetensors file is an 8-byte little-endian header length N, N bytes of JSON naming each
tensor's dtype, shape and byte range, then the raw bytes: no code, nothing to unpickle. It is
an optional extra: ``pip install -e '.[safetensors]'``.

    save_safetensors({"fc.weight": w, ...}, "model.safetensors")      # name -> array
    state = load_safetensors("model.safetensors")                       # OrderedDict name -> array

``load_safetensors`` checks the header itself before the package reads the file (length within
the file and under MAX_HEADER_BYTES, a JSON object of entries with dtype, shape and in-file
offsets), so a truncated or malformed file is a SafetensorsFileError naming the file and what
is wrong, never a crash or a partial dict.
"""
from __future__ import annotations

import json
import os
import struct
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .. import backend
from ..tensor import Tensor
from .files import atomic_write

__all__ = ["MAX_HEADER_BYTES", "SafetensorsFileError", "is_safetensors", "load_safetensors",
           "save_safetensors"]

MAX_HEADER_BYTES = 100_000_000          # the package's own limit
_INSTALL = "install the optional extra: pip install -e '.[safetensors]' (or pip install safetensors)"


class SafetensorsFileError(ValueError):
    """A .safetensors file that is truncated, malformed or not one at all."""


def is_safetensors(path) -> bool:
    """Whether ``path`` names a .safetensors file (by its suffix)."""
    return Path(path).suffix.lower() == ".safetensors"


def _numpy_api():
    try:
        from safetensors import numpy as st_numpy
    except ImportError as err:
        raise ImportError(f"safetensors: the 'safetensors' package is not installed; {_INSTALL}") from err
    return st_numpy


def save_safetensors(state: dict, path, metadata: dict[str, str] | None = None) -> Path:
    """Write ``state`` (name -> array, e.g. a model's state_dict()) to ``path`` atomically;
    ``metadata``: optional str -> str pairs kept in the header. Returns the path."""
    st_numpy = _numpy_api()
    arrays = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise TypeError(f"save_safetensors: keys must be str, got {type(key).__name__} {key!r}")
        if not (isinstance(value, (np.ndarray, Tensor)) or backend.is_cupy_array(value)):
            raise TypeError(f"save_safetensors: {key!r} is a {type(value).__name__}, expected an "
                            f"array (safetensors holds a flat name -> array mapping only)")
        arrays[key] = np.ascontiguousarray(backend.to_device(getattr(value, "data", value), "cpu"))
    payload = st_numpy.save(arrays, metadata=metadata)
    path = Path(path)
    with atomic_write(path) as out:
        out.write(payload)
    return path


def _check_header(data: bytes, where: str) -> dict:
    if len(data) < 8:
        raise SafetensorsFileError(f"{where}: {len(data)} bytes, too short for the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise SafetensorsFileError(f"{where}: header length {n} does not fit a file of {len(data)} bytes "
                                   f"(at most {min(MAX_HEADER_BYTES, len(data) - 8)}): truncated or not safetensors")
    try:
        header = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SafetensorsFileError(f"{where}: the header is not valid JSON ({err})") from None
    if not isinstance(header, dict):
        raise SafetensorsFileError(f"{where}: the header is a JSON {type(header).__name__}, expected an object")
    body = len(data) - 8 - n
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if not (isinstance(entry, dict) and isinstance(entry.get("dtype"), str)
                and isinstance(entry.get("shape"), list) and isinstance(entry.get("data_offsets"), list)
                and len(entry["data_offsets"]) == 2
                and all(isinstance(v, int) and v >= 0 for v in entry["shape"] + entry["data_offsets"])):
            raise SafetensorsFileError(f"{where}: entry {key[:80]!r} lacks a dtype, shape or data_offsets")
        begin, end = entry["data_offsets"]
        if not begin <= end <= body:
            raise SafetensorsFileError(f"{where}: entry {key[:80]!r} spans bytes {begin}..{end} of a "
                                       f"{body}-byte body: truncated or damaged")
    return header


def load_safetensors(path) -> "OrderedDict[str, np.ndarray]":
    """The arrays of the .safetensors file at ``path``, in the file's order, name -> array.
    Raises SafetensorsFileError for a truncated or malformed file."""
    path = Path(path)
    st_numpy = _numpy_api()
    data = path.read_bytes()
    header = _check_header(data, f"load_safetensors: {path}")
    try:
        arrays = st_numpy.load(data)
    except Exception as err:           # the package's own SafetensorError, a Rust-side error
        raise SafetensorsFileError(f"load_safetensors: {path}: {type(err).__name__}: {err}") from None
    order = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])
    return OrderedDict((k, arrays[k]) for k in order)

