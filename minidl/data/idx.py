"""IDX files, the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

Layout, all big-endian: two zero bytes, a dtype code, the number of dimensions d, then d
unsigned 32-bit sizes, then the values in C order. Files may be gzip-compressed (the official
downloads are); read_idx detects that from the gzip magic bytes 1f 8b, not from the name.
"""
from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from pathlib import Path

import numpy as np

# IDX dtype code -> big-endian numpy dtype of the stored values
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """A file is not a valid IDX file (message names the file and the problem)."""


def _known_codes() -> str:
    return ", ".join(f"0x{code:02X} ({dt.name})" for code, dt in IDX_DTYPES.items())


MAX_NDIM = 64                  # NumPy's limit on dimensions
_DEFLATE_RATIO = 1032          # deflate's largest possible expansion: bytes out per byte in


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a native-byte-order array of its stored shape.

    The header is read first and the data only once its size is known to fit: a plain file
    must be exactly that long, a gzip stream is decompressed up to that size (and one byte
    more, to refuse trailing data) and never past it. Raises IDXError naming the file.
    """
    path = Path(path)
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        stored = os.fstat(raw.fileno()).st_size
        try:
            if compressed:
                with gzip.GzipFile(fileobj=raw) as stream:
                    return _read_stream(stream, str(path), None, _DEFLATE_RATIO * stored + 64)
            return _read_stream(raw, str(path), stored, stored)
        except (EOFError, OSError, zlib.error) as err:
            if not compressed or isinstance(err, (FileNotFoundError, PermissionError)):
                raise
            raise IDXError(f"{path}: corrupt or truncated gzip data ({err})") from err


def _header(name: str, head: bytes, stream) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, shape, header length) from the first bytes, reading the sizes from stream."""
    if len(head) < 4:
        raise IDXError(f"{name}: {len(head)} bytes is too short for the 4-byte IDX header")
    zero1, zero2, code, ndim = head[:4]
    if zero1 != 0 or zero2 != 0:
        raise IDXError(f"{name}: not an IDX file: magic starts {head[:4].hex(' ')}, expected "
                       f"00 00 <dtype code> <ndim>")
    if code not in IDX_DTYPES:
        raise IDXError(f"{name}: unknown IDX dtype code 0x{code:02X}; known: {_known_codes()}")
    if ndim == 0:
        raise IDXError(f"{name}: IDX header declares 0 dimensions")
    if ndim > MAX_NDIM:
        raise IDXError(f"{name}: IDX header declares {ndim} dimensions; NumPy arrays have at "
                       f"most {MAX_NDIM}")
    sizes = stream.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise IDXError(f"{name}: truncated header: {ndim} dimensions need {4 + 4 * ndim} bytes, "
                       f"file has {4 + len(sizes)}")
    shape = tuple(int.from_bytes(sizes[i:i + 4], "big") for i in range(0, 4 * ndim, 4))
    return IDX_DTYPES[code], shape, 4 + 4 * ndim


def _read_stream(stream, name: str, total: int | None, limit: int) -> np.ndarray:
    """The array of an IDX stream; ``total`` its exact length when known (a plain file),
    ``limit`` the most data bytes it can hold."""
    dtype, shape, header = _header(name, stream.read(4), stream)
    expected = math.prod(shape) * dtype.itemsize         # Python ints: no wrap-around
    if math.prod(s for s in shape if s) * dtype.itemsize >= 2 ** 62:
        raise IDXError(f"{name}: shape {shape} of {dtype.name} is larger than any array NumPy "
                       f"can hold (even with a zero size)")
    if total is not None and total - header != expected:
        actual = total - header
        if actual < expected:
            raise IDXError(f"{name}: truncated data: shape {shape} of {dtype.name} needs "
                           f"{expected} bytes after the header, found {actual}")
        raise IDXError(f"{name}: {actual - expected} unexpected bytes after the data of "
                       f"shape {shape} ({dtype.name})")
    if expected > limit:
        raise IDXError(f"{name}: header declares shape {shape} of {dtype.name} ({expected} "
                       f"bytes), more than this {'gzip ' if total is None else ''}file can hold")
    values = np.empty(expected // dtype.itemsize, dtype=dtype)
    view, filled = memoryview(values).cast("B"), 0
    while filled < expected:
        got = stream.readinto(view[filled:filled + (1 << 22)])
        if not got:
            raise IDXError(f"{name}: truncated data: shape {shape} of {dtype.name} needs "
                           f"{expected} bytes after the header, found {filled}")
        filled += got
    extra = len(stream.read(1 << 16)) if total is None else 0
    if extra:
        raise IDXError(f"{name}: {extra}{'+' if extra == 1 << 16 else ''} unexpected bytes "
                       f"after the data of shape {shape} ({dtype.name})")
    if not dtype.isnative:
        values.byteswap(inplace=True)           # in place: no second copy of the data
    return values.view(dtype.newbyteorder("=")).reshape(shape)


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode uncompressed IDX bytes; name is used in error messages."""
    return _read_stream(io.BytesIO(raw), name, len(raw), len(raw))


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes (uncompressed) of an array of a supported dtype with 1..255 dimensions."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODE_OF:
        raise IDXError(f"encode_idx: dtype {array.dtype} has no IDX code; supported: "
                       f"{_known_codes()}")
    if not 1 <= array.ndim <= 255:
        raise IDXError(f"encode_idx: IDX stores 1 to 255 dimensions, got shape {array.shape}")
    if any(s >= 2**32 for s in array.shape):
        raise IDXError(f"encode_idx: every size must fit in 32 bits, got shape {array.shape}")
    code = _CODE_OF[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write array as an IDX file, gzip-compressed when path ends in .gz; return the path."""
    path = Path(path)
    data = encode_idx(array)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path
