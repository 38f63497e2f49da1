"""Finding the published checkpoints: $MINIDL_WEIGHTS, the cache, the shared folder, and a
checked download (offline: the 'server' is a file:// URL). Uses the real CIFAR ResNet files
($MINIDL_WEIGHTS or <repo>/../shared/pretrained) and skips without them.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from minidl import download as dl
from minidl.pretrained import PRETRAINED, locate, pretrained_path, search_dirs

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = Path(os.environ.get("MINIDL_WEIGHTS") or REPO.parent / "shared" / "pretrained")


def _real(file: str) -> Path:
    path = WEIGHTS / file
    if not path.is_file():
        pytest.skip(f"pretrained checkpoint {path} not present (set MINIDL_WEIGHTS to its folder)")
    return path


# ------------------------------------------------------------------------------------------
# Finding the files: $MINIDL_WEIGHTS, the cache, the shared folder, a checked download
# ------------------------------------------------------------------------------------------

def test_pretrained_path_prefers_minidl_weights_then_the_cache(monkeypatch, tmp_path):
    source = _real("resnet20-12fca82f.th")
    mine, cache = tmp_path / "mine", tmp_path / "cache"
    monkeypatch.setenv("MINIDL_CACHE", str(cache))
    monkeypatch.delenv("MINIDL_WEIGHTS", raising=False)
    (cache / "weights").mkdir(parents=True)
    shutil.copy(source, cache / "weights" / source.name)
    assert pretrained_path("resnet20", download=False) == cache / "weights" / source.name
    mine.mkdir()
    shutil.copy(source, mine / source.name)
    monkeypatch.setenv("MINIDL_WEIGHTS", str(mine))
    assert search_dirs()[:2] == [mine, cache / "weights"]
    assert pretrained_path("resnet20", download=False) == mine / source.name


def test_pretrained_path_refuses_a_damaged_local_file(monkeypatch, tmp_path):
    source = _real("resnet20-12fca82f.th")
    monkeypatch.setenv("MINIDL_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    damaged = bytearray(source.read_bytes())
    damaged[-1] ^= 0xFF
    (tmp_path / source.name).write_bytes(bytes(damaged))
    with pytest.raises(dl.ChecksumError, match="SHA-256"):
        pretrained_path("resnet20", download=False)


def test_pretrained_path_downloads_into_the_cache_with_a_checksum(monkeypatch, tmp_path):
    """The download path end to end, offline: the 'server' is a file:// URL."""
    source = _real("resnet20-12fca82f.th")
    monkeypatch.delenv("MINIDL_WEIGHTS", raising=False)
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(locate, "SHARED_DIR", tmp_path / "no-shared")  # hide the shared copy
    entry = PRETRAINED["resnet20"]
    monkeypatch.setitem(PRETRAINED, "resnet20", entry._replace(url=source.as_uri()))
    with pytest.raises(FileNotFoundError, match="download=False"):
        pretrained_path("resnet20", download=False)
    path = pretrained_path("resnet20", progress=False)
    assert path == tmp_path / "cache" / "weights" / entry.file
    assert dl.sha256_of(path) == entry.sha256
    # a server sending other bytes is caught by the checksum and leaves nothing behind
    bad = tmp_path / "bad.th"
    bad.write_bytes(b"not the weights")
    path.unlink()
    monkeypatch.setitem(PRETRAINED, "resnet20", entry._replace(url=bad.as_uri()))
    with pytest.raises(dl.DownloadError, match="announces 15 bytes, expected 1099231"):
        pretrained_path("resnet20", progress=False)     # stopped by its size before its hash
    bad.write_bytes(bytes(entry.size))
    with pytest.raises(dl.ChecksumError):
        pretrained_path("resnet20", progress=False)
    assert list((tmp_path / "cache" / "weights").iterdir()) == []


def test_the_registry_knows_each_file_s_size():
    for name, published in PRETRAINED.items():
        assert _real(published.file).stat().st_size == published.size, name


def test_unknown_checkpoint_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="resnet20"):
        pretrained_path("resnet21")
