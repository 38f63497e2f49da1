"""Atomic writes: a killed save or download leaves a .part file that the next write of the same
target removes (one still being written is kept), and the file and its folder are fsynced
around the rename."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minidl
from minidl.download import DownloadError, download
from minidl.serialization import atomic_write, remove_stale_parts

HOLD = """
import sys, time
from minidl.serialization import atomic_write
with atomic_write(sys.argv[1]) as f:
    f.write(b"x" * 1000)
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


def _writer(target):
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(target)], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "writing"
    return child


def test_a_killed_save_leaves_a_part_that_the_next_save_removes(tmp_path):
    target = tmp_path / "w.npz"
    child = _writer(target)
    os.kill(child.pid, signal.SIGKILL)              # no cleanup code runs
    child.wait()
    parts = list(tmp_path.glob(".w.npz.*.part"))
    assert len(parts) == 1 and not target.exists()
    minidl.save({"a": np.ones(2)}, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]


def test_a_part_still_being_written_is_left_alone(tmp_path):
    target = tmp_path / "w.npz"
    child = _writer(target)
    try:
        assert remove_stale_parts(target) == []
        assert len(list(tmp_path.glob(".w.npz.*.part"))) == 1
    finally:
        child.kill()
        child.wait()
    assert len(remove_stale_parts(target)) == 1      # its writer is gone now


def test_the_file_and_its_folder_are_fsynced_before_and_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(
        f"/proc/self/fd/{fd}"))), real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", str(b))),
                                                     real_replace(a, b)))
    target = tmp_path / "f.bin"
    with atomic_write(target) as f:
        f.write(b"data")
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"]
    assert events[0][1].startswith(str(tmp_path / ".f.bin.")) and events[2][1] == str(tmp_path)
    assert target.read_bytes() == b"data"


def test_an_exception_inside_the_block_keeps_the_old_file_and_no_part(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as f:
        f.write(b"new, half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]


def test_a_killed_download_leaves_a_part_that_the_next_download_removes(tmp_path):
    payload = bytes(range(256)) * 64
    source = tmp_path / "src.bin"
    source.write_bytes(payload)
    out = tmp_path / "out"
    child = _writer(out / "blob.bin")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert len(list(out.glob("*.part"))) == 1
    download(source.as_uri(), out / "blob.bin", hashlib.sha256(payload).hexdigest(),
             progress=False, size=len(payload))
    assert sorted(p.name for p in out.iterdir()) == ["blob.bin"]


def test_a_download_stops_past_its_expected_size(tmp_path):
    """The body was written to disk in full before the hash check refused it; now a
    Content-Length that disagrees stops it before a byte is read."""
    payload = bytes(1 << 20)
    source = tmp_path / "src.bin"
    source.write_bytes(payload)
    start = time.monotonic()
    with pytest.raises(DownloadError, match="announces 1048576 bytes, expected 1000"):
        download(source.as_uri(), tmp_path / "out" / "x", "0" * 64, progress=False, size=1000)
    assert not (tmp_path / "out" / "x").exists()
    assert time.monotonic() - start < 5


def test_a_body_without_content_length_is_cut_at_the_expected_size(tmp_path, monkeypatch):
    import io
    import minidl.download as dl

    class Endless(io.RawIOBase):
        headers = {}
        sent = 0

        def read(self, n=-1):
            Endless.sent += n
            return b"\0" * n

        def __exit__(self, *exc):
            pass

    monkeypatch.setattr(dl.urllib.request, "urlopen", lambda url, timeout: Endless())
    with pytest.raises(DownloadError, match="more than the expected 100000 bytes"):
        download("http://example.invalid/x", tmp_path / "x", "0" * 64, progress=False, size=100_000)
    assert Endless.sent <= 100_000 + (1 << 16) and list(tmp_path.iterdir()) == []
