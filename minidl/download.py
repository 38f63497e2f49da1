"""Safe downloads: stream to a temp file beside the target, check SHA-256, rename atomically.

A download that fails for any reason (network error, interruption, wrong hash) leaves neither
the target nor a half-written temp file behind, so a later run never reads a corrupt file.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import urllib.request
from pathlib import Path

from minidl.progress import ProgressBar

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


def default_file_mode() -> int:
    """The mode open() would give a new file: 0o666 less the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def download(url: str, dest: str | os.PathLike, sha256: str, progress: bool = True,
             timeout: float = 60.0) -> Path:
    """Fetch url into dest (creating its folder) and return dest.

    If dest already exists with the expected hash nothing is fetched. The bytes go to a
    temp file in dest's folder, are hashed while streaming, and replace dest only when the
    SHA-256 matches; any failure removes the temp file and raises DownloadError.
    """
    expected = sha256.lower()
    if not _SHA256_RE.fullmatch(expected):
        raise ValueError(f"download: sha256 must be 64 hex digits, got {sha256!r}")
    dest = Path(dest)
    if dest.is_file() and sha256_of(dest) == expected:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.NamedTemporaryFile(delete=False, dir=dest.parent, prefix=f".{dest.name}.",
                                      suffix=".part")
    try:
        with tmp:
            actual, size = _stream(url, tmp, dest.name, progress, timeout)
        if actual != expected:
            raise ChecksumError(f"download: SHA-256 mismatch for {url} ({size} bytes): "
                                f"expected {expected}, got {actual}; nothing was saved to {dest}")
        os.chmod(tmp.name, default_file_mode())  # temp files start private (0600)
        os.replace(tmp.name, dest)
    except BaseException as err:  # also Ctrl-C: never leave a half-written file behind
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp.name)
        if isinstance(err, Exception) and not isinstance(err, DownloadError):
            raise DownloadError(f"download: fetching {url} failed ({type(err).__name__}: "
                                f"{err}); nothing was saved to {dest}") from err
        raise
    return dest


def _stream(url: str, out, name: str, progress: bool, timeout: float) -> tuple[str, int]:
    """Copy url's bytes into the open file out; return (hex SHA-256, byte count)."""
    digest = hashlib.sha256()
    size = 0
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        with ProgressBar(total, name, unit="B", disable=not progress) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                bar.update(len(chunk))
    if total is not None and size != total:
        raise DownloadError(f"download: {url} ended early: got {size} of {total} bytes")
    return digest.hexdigest(), size
