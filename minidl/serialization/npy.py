"""The .npy format (NumPy's one-array file), read strictly from untrusted bytes.

Layout: ``\\x93NUMPY``, version (1, 0), (2, 0) or (3, 0), the header's length (2 bytes for
version 1, else 4, little-endian), the header -- a Python dict literal ``{'descr': '<f4',
'fortran_order': False, 'shape': (3, 4), }`` -- then the elements. NumPy parses the header with
``ast.literal_eval``, which lets tokenizer and recursion errors through on hostile input; here a
regular expression accepts exactly that dict with a plain dtype (bool, integers, floats,
complex, fixed-size strings): object and structured dtypes, which only pickle can fill, are
refused.
"""
from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["MAX_NDIM", "PLAIN_KINDS", "NpyError", "parse_npy"]

MAGIC = b"\x93NUMPY"
PLAIN_KINDS = "biufcSU"
MAX_NDIM = 64                     # NumPy's own limit on dimensions
_MAX_BYTES = 2 ** 62              # no real array is larger; keeps every product in range
_HEADER = re.compile(
    r"\{\s*'descr'\s*:\s*'([<>|=]?[biufcSU]\d{1,9})'\s*,\s*"
    r"'fortran_order'\s*:\s*(True|False)\s*,\s*"
    r"'shape'\s*:\s*\(\s*((?:\d{1,19}\s*,\s*)*(?:\d{1,19}\s*)?)\)\s*,?\s*\}\s*")


class NpyError(ValueError):
    """Bytes that are not a plain-array .npy member (message without the file's name)."""


def parse_npy(data, name: str) -> np.ndarray:
    """The array in ``data`` (a bytes-like .npy member), sharing its buffer (writable when data
    is a bytearray). ``name`` labels the member in messages."""
    view = memoryview(data)
    if len(view) < 10 or bytes(view[:6]) != MAGIC:
        raise NpyError(f"{name} is not a .npy array (no \\x93NUMPY magic)")
    major = view[6]
    if major not in (1, 2, 3) or view[7] != 0:
        raise NpyError(f"{name}: unknown .npy version {view[6]}.{view[7]}")
    width = 2 if major == 1 else 4
    if len(view) < 8 + width:
        raise NpyError(f"{name}: truncated .npy header")
    length = int.from_bytes(view[8:8 + width], "little")
    start = 8 + width
    if start + length > len(view):
        raise NpyError(f"{name}: .npy header of {length} bytes runs past the member's "
                       f"{len(view)} bytes")
    try:
        text = bytes(view[start:start + length]).decode("latin1" if major < 3 else "utf8")
    except UnicodeDecodeError:
        raise NpyError(f"{name}: .npy header is not text") from None
    match = _HEADER.fullmatch(text)
    if match is None:
        raise NpyError(f"{name}: .npy header {text[:80]!r} does not describe one of the plain "
                       f"arrays read here (bool, int, uint, float, complex or fixed-size "
                       f"string; object and structured arrays need pickle and are refused)")
    try:
        dtype = np.dtype(match.group(1))
    except TypeError:
        raise NpyError(f"{name}: unknown dtype {match.group(1)!r}") from None
    fortran = match.group(2) == "True"
    shape = tuple(int(d) for d in re.findall(r"\d+", match.group(3)))
    if len(shape) > MAX_NDIM:
        raise NpyError(f"{name}: {len(shape)} dimensions, more than NumPy's {MAX_NDIM}")
    if math.prod(d for d in shape if d) * max(dtype.itemsize, 1) > _MAX_BYTES:
        raise NpyError(f"{name}: shape {shape} of {dtype} is impossibly large")
    count = math.prod(shape)
    expected = count * dtype.itemsize
    found = len(view) - start - length
    if found != expected:
        raise NpyError(f"{name}: shape {shape} of {dtype} needs {expected} bytes of data, the "
                       f"member has {found}")
    if expected == 0:
        return np.empty(shape, dtype)
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=start + length)
    return flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
