"""IDX files, the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

Layout, all big-endian: two zero bytes, a dtype code, the number of dimensions d, then d
unsigned 32-bit sizes, then the values in C order. Files may be gzip-compressed (the official
downloads are); read_idx detects that from the gzip magic bytes 1f 8b, not from the name.
"""
from __future__ import annotations

import gzip
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


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a native-byte-order array of its stored shape."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as err:
            raise IDXError(f"{path}: corrupt or truncated gzip data ({err})") from err
    return parse_idx(raw, str(path))


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode uncompressed IDX bytes; name is used in error messages."""
    if len(raw) < 4:
        raise IDXError(f"{name}: {len(raw)} bytes is too short for the 4-byte IDX header")
    zero1, zero2, code, ndim = raw[:4]
    if zero1 != 0 or zero2 != 0:
        raise IDXError(f"{name}: not an IDX file: magic starts {raw[:4].hex(' ')}, expected "
                       f"00 00 <dtype code> <ndim>")
    if code not in IDX_DTYPES:
        raise IDXError(f"{name}: unknown IDX dtype code 0x{code:02X}; known: {_known_codes()}")
    if ndim == 0:
        raise IDXError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{name}: truncated header: {ndim} dimensions need {header} bytes, "
                       f"file has {len(raw)}")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header
    if actual < expected:
        raise IDXError(f"{name}: truncated data: shape {shape} of {dtype.name} needs "
                       f"{expected} bytes after the header, found {actual}")
    if actual > expected:
        raise IDXError(f"{name}: {actual - expected} unexpected bytes after the data of "
                       f"shape {shape} ({dtype.name})")
    values = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return values.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


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
