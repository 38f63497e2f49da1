"""download(): file:// URLs stand in for the network; failures must leave nothing behind."""
import hashlib
import io
import os
import urllib.request
from pathlib import Path

import pytest

import minidl.download as dl
from minidl.download import ChecksumError, DownloadError, cache_dir, download


@pytest.fixture
def source(tmp_path):
    payload = bytes(range(256)) * 1000  # 256 kB: several read chunks
    path = tmp_path / "src" / "blob.bin"
    path.parent.mkdir()
    path.write_bytes(payload)
    return path, payload, hashlib.sha256(payload).hexdigest()


def test_download_copies_and_verifies(tmp_path, source, capsys):
    path, payload, sha = source
    dest = tmp_path / "out" / "nested" / "blob.bin"
    assert download(path.as_uri(), dest, sha) == dest
    assert dest.read_bytes() == payload
    assert list(dest.parent.iterdir()) == [dest]  # no temp file left
    assert "blob.bin" in capsys.readouterr().err  # progress went to stderr


def test_download_without_progress_is_silent(tmp_path, source, capsys):
    path, _, sha = source
    download(path.as_uri(), tmp_path / "b", sha, progress=False)
    assert capsys.readouterr().err == ""


def test_wrong_hash_keeps_no_file_and_names_both_hashes(tmp_path, source):
    path, payload, sha = source
    wrong = hashlib.sha256(payload + b"x").hexdigest()
    out = tmp_path / "out"
    with pytest.raises(ChecksumError) as err:
        download(path.as_uri(), out / "blob.bin", wrong, progress=False)
    assert wrong in str(err.value) and sha in str(err.value)
    assert list(out.iterdir()) == []


def test_wrong_hash_does_not_replace_an_existing_file(tmp_path, source):
    path, payload, sha = source
    dest = tmp_path / "blob.bin"
    dest.write_bytes(b"old contents")
    with pytest.raises(ChecksumError):
        download(path.as_uri(), dest, "0" * 64, progress=False)
    assert dest.read_bytes() == b"old contents"


class BreaksMidway:
    """A response wrapper whose second read fails, like a dropped connection."""

    def __init__(self, response):
        self.response, self.reads = response, 0
        self.headers = response.headers

    def read(self, n):
        self.reads += 1
        if self.reads == 2:
            raise ConnectionResetError("connection reset by peer")
        return self.response.read(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.response.close()


def test_interrupted_stream_leaves_nothing_half_written(tmp_path, source, monkeypatch):
    path, _, sha = source
    real_urlopen = urllib.request.urlopen
    monkeypatch.setattr(dl.urllib.request, "urlopen",
                        lambda url, timeout: BreaksMidway(real_urlopen(url, timeout=timeout)))
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match="connection reset") as err:
        download(path.as_uri(), out / "blob.bin", sha, progress=False)
    assert path.as_uri() in str(err.value)
    assert isinstance(err.value.__cause__, ConnectionResetError)
    assert list(out.iterdir()) == []


def test_keyboard_interrupt_cleans_up_and_propagates(tmp_path, source, monkeypatch):
    path, _, sha = source

    def interrupted(url, timeout):
        raise KeyboardInterrupt

    monkeypatch.setattr(dl.urllib.request, "urlopen", interrupted)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        download(path.as_uri(), out / "blob.bin", sha, progress=False)
    assert list(out.iterdir()) == []


class ShortBody(io.BytesIO):
    headers = {"Content-Length": "100"}

    def __exit__(self, *exc):
        self.close()


def test_body_shorter_than_content_length_is_an_error(tmp_path, monkeypatch):
    body = b"only forty bytes of the promised hundred"
    monkeypatch.setattr(dl.urllib.request, "urlopen", lambda url, timeout: ShortBody(body))
    with pytest.raises(DownloadError, match=f"got {len(body)} of 100 bytes"):
        download("http://example.invalid/f", tmp_path / "f", hashlib.sha256(body).hexdigest(),
                 progress=False)
    assert list(tmp_path.iterdir()) == []


def test_missing_source_is_a_download_error(tmp_path):
    with pytest.raises(DownloadError, match="nothing was saved"):
        download((tmp_path / "absent").as_uri(), tmp_path / "x", "a" * 64, progress=False)
    assert not (tmp_path / "x").exists()


def test_existing_file_with_right_hash_is_not_fetched_again(tmp_path, source, monkeypatch):
    path, payload, sha = source
    dest = tmp_path / "blob.bin"
    dest.write_bytes(payload)

    def no_network(url, timeout):
        raise AssertionError("should not fetch")

    monkeypatch.setattr(dl.urllib.request, "urlopen", no_network)
    assert download("http://example.invalid/blob.bin", dest, sha.upper()) == dest


def test_malformed_hash_rejected(tmp_path, source):
    path, _, _ = source
    with pytest.raises(ValueError, match="64 hex digits"):
        download(path.as_uri(), tmp_path / "x", "abc123")


def test_downloaded_file_gets_the_umask_mode_not_the_temp_file_mode(tmp_path, source):
    path, _, sha = source
    old = os.umask(0o022)
    try:
        dest = download(path.as_uri(), tmp_path / "blob.bin", sha, progress=False)
    finally:
        os.umask(old)
    assert dest.stat().st_mode & 0o777 == 0o644  # a fresh temp file would be 0600


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("MINIDL_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "minidl"
