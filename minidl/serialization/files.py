"""Writing a file so that a reader sees the old version or the new one, never a half-written one.

``atomic_write(path)`` hands out a temporary file ``.<name>.<random>.part`` beside ``path``; on
success the file is flushed and fsynced, renamed onto ``path`` and the folder is fsynced, so the
rename survives a power cut. A temp file left by a killed writer (``kill -9`` skips every
cleanup) is removed by the next write of the same target; one still being written by another
process is locked and left alone.
"""
from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "default_file_mode", "fsync_dir", "remove_stale_parts"]

PART_SUFFIX = ".part"


def default_file_mode() -> int:
    """The mode open() would give a new file: 0o666 less the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _part_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale_parts(path: str | os.PathLike) -> list[Path]:
    """Delete the temp files of earlier, killed writes of ``path``; returns those removed.

    A temp file whose writer is alive holds an exclusive lock on it and is kept.
    """
    path = Path(path)
    pattern = glob.escape(str(path.parent / _part_prefix(path))) + "*" + PART_SUFFIX
    removed = []
    for part in map(Path, glob.glob(pattern)):
        try:
            with open(part, "rb") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)   # fails while a writer holds it
                part.unlink()
            removed.append(part)
        except (BlockingIOError, FileNotFoundError, PermissionError, IsADirectoryError):
            continue
    return removed


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename inside ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike):
    """``with atomic_write(path) as f: f.write(...)``: ``path`` appears, complete and with
    open()'s mode, only when the block ends without an exception (Ctrl-C included)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_part_prefix(path), suffix=PART_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            fcntl.flock(f, fcntl.LOCK_EX)        # tells remove_stale_parts this one is alive
            yield f
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, default_file_mode())   # mkstemp's file is private (0600)
            os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
