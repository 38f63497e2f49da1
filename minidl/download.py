"""Safe downloads: stream to a temp file beside the target, check size and SHA-256, rename
atomically (``minidl.serialization.files.atomic_write``: fsynced, the folder too).

A download that fails for any reason (network error, interruption, too many bytes, wrong hash)
leaves neither the target nor a half-written temp file behind, and the temp file of a download
killed outright (``kill -9``) is removed by the next download of the same target, so a later run
never reads a corrupt file and the folder does not fill up.
"""
from __future__ import annotations

import hashlib
import os
import re
import urllib.request
from pathlib import Path

from minidl.progress import ProgressBar
from minidl.serialization.files import atomic_write, default_file_mode

__all__ = ["ChecksumError", "DownloadError", "cache_dir", "default_file_mode", "download",
           "sha256_of"]

_CHUNK = 1 << 16
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


class DownloadError(OSError):
    """A download failed (network, interruption, size or checksum mismatch)."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected SHA-256."""


def cache_dir() -> Path:
    """$MINIDL_CACHE if set, else ~/.cache/minidl (not created here)."""
    env = os.environ.get("MINIDL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "minidl"


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest: str | os.PathLike, sha256: str, progress: bool = True,
             timeout: float = 60.0, size: int | None = None) -> Path:
    """Fetch url into dest (creating its folder) and return dest.

    If dest already exists with the expected hash nothing is fetched. The bytes go to a temp
    file in dest's folder, are hashed while streaming, and replace dest only when the SHA-256
    matches. ``size`` (bytes), when known, is checked against the server's Content-Length
    before the body is read, and the transfer stops as soon as it goes past it. Any failure
    removes the temp file and raises DownloadError.
    """
    expected = sha256.lower()
    if not _SHA256_RE.fullmatch(expected):
        raise ValueError(f"download: sha256 must be 64 hex digits, got {sha256!r}")
    if size is not None and (type(size) is not int or size < 0):
        raise ValueError(f"download: size must be an int >= 0 (bytes), got {size!r}")
    dest = Path(dest)
    if dest.is_file() and sha256_of(dest) == expected:
        return dest
    try:
        with atomic_write(dest) as out:
            actual, got = _stream(url, out, dest.name, progress, timeout, size)
            if actual != expected:
                raise ChecksumError(f"download: SHA-256 mismatch for {url} ({got} bytes): "
                                    f"expected {expected}, got {actual}; nothing was saved to {dest}")
    except DownloadError:
        raise
    except Exception as err:     # Ctrl-C and the like propagate as they are
        raise DownloadError(f"download: fetching {url} failed ({type(err).__name__}: {err}); "
                            f"nothing was saved to {dest}") from err
    return dest


def _stream(url: str, out, name: str, progress: bool, timeout: float,
            size: int | None) -> tuple[str, int]:
    """Copy url's bytes into the open file out; return (hex SHA-256, byte count)."""
    digest = hashlib.sha256()
    got = 0
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if size is not None and total is not None and total != size:
            raise DownloadError(f"download: {url} announces {total} bytes, expected {size}; "
                                f"nothing was saved")
        with ProgressBar(total if total is not None else size, name, unit="B",
                         disable=not progress) as bar:
            while chunk := response.read(_CHUNK):
                got += len(chunk)
                if size is not None and got > size:
                    raise DownloadError(f"download: {url} sent more than the expected {size} "
                                        f"bytes; stopped, nothing was saved")
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
    if total is not None and got != total:
        raise DownloadError(f"download: {url} ended early: got {got} of {total} bytes")
    if size is not None and got != size:
        raise DownloadError(f"download: {url} ended early: got {got} of {size} bytes")
    return digest.hexdigest(), got
