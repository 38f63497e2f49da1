"""Reading zip archives from strangers within the bytes they store.

Both of minidl's zip formats (``minidl.save``'s .npz, PyTorch's checkpoints) write *stored*
members, so compressed ones are refused before anything is inflated: a member's declared size is
then its size on disk, checked against the file's size before a byte of it is read. Encrypted
members, duplicate names (which readers resolve differently: PyTorch takes the first copy,
zipfile the last) and members whose declared sizes add up to more than the file are refused too.
Reading a member checks its local header's name against the central directory's and its CRC-32
(Python's zipfile does both). Every failure is raised as the caller's error type.
"""
from __future__ import annotations

import os
import zipfile

__all__ = ["StoredZip"]

_CHUNK = 1 << 20


class StoredZip:
    """An open zip archive of stored members: ``names`` in archive order, ``read(name)``.

    ``error`` is the exception type raised for anything wrong with the archive, with a message
    that does not name the file (the caller adds it).
    """

    def __init__(self, path: str | os.PathLike, error: type[Exception]):
        self._error = error
        size = os.path.getsize(path)       # a missing file stays a FileNotFoundError
        try:
            self._archive = zipfile.ZipFile(path)
            infos = self._archive.infolist()
        except Exception as exc:   # BadZipFile, EOFError, ValueError, struct.error, ...
            raise error(f"not a readable zip archive ({type(exc).__name__}: {exc})") from None
        try:
            self._check(infos, size)
        except BaseException:
            self._archive.close()
            raise
        self.infos = {info.filename: info for info in infos}
        self.names = [info.filename for info in infos]

    def _check(self, infos, size: int) -> None:
        seen, total = set(), 0
        for info in infos:
            name = info.filename
            if name in seen:
                raise self._error(f"zip member {name!r} appears twice")
            seen.add(name)
            if info.flag_bits & 0x1:
                raise self._error(f"zip member {name!r} is encrypted")
            if info.compress_type != zipfile.ZIP_STORED:
                raise self._error(f"zip member {name!r} is compressed (method "
                                  f"{info.compress_type}); only stored members are read, as "
                                  f"minidl and PyTorch write them")
            if info.compress_size != info.file_size:
                raise self._error(f"zip member {name!r} is stored but declares {info.file_size} "
                                  f"bytes and {info.compress_size} on disk")
            total += info.file_size
            if info.header_offset + info.file_size > size or total > size:
                raise self._error(f"zip member {name!r} declares {info.file_size} bytes, more "
                                  f"than the {size}-byte file holds")

    def size(self, name: str) -> int:
        return self.infos[name].file_size

    def read(self, name: str) -> bytearray:
        """The member's bytes, its CRC and local header checked."""
        if name not in self.infos:
            raise self._error(f"zip archive has no member {name!r}")
        info = self.infos[name]
        data = bytearray(info.file_size)
        view, filled = memoryview(data), 0
        try:
            with self._archive.open(info) as member:
                while filled < len(data):
                    chunk = member.read(min(_CHUNK, len(data) - filled))
                    if not chunk:
                        raise EOFError(f"member ends after {filled} of {len(data)} bytes")
                    view[filled:filled + len(chunk)] = chunk
                    filled += len(chunk)
                if member.read(1):
                    raise ValueError("member is longer than declared")
        except Exception as exc:   # BadZipFile (CRC, header name), EOFError, ...
            raise self._error(f"cannot read zip member {name!r} ({type(exc).__name__}: "
                              f"{exc})") from None
        return data

    def close(self) -> None:
        self._archive.close()

    def __enter__(self) -> "StoredZip":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
