"""Saving and loading weights as .npz: plain arrays, no pickle, nothing executed on load."""
from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from . import backend
from .download import _default_file_mode


def save(state_dict, path) -> Path:
    """Write a name -> array mapping (e.g. ``model.state_dict()``) to ``path`` (.npz), atomically."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
    arrays = OrderedDict()
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"save: keys must be strings, got {name!r}")
        arrays[name] = backend.to_device(getattr(value, "data", value), "cpu")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, _default_file_mode())    # mkstemp's file is private (0600); give it open()'s mode
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def load(path) -> "OrderedDict[str, np.ndarray]":
    """Read a .npz written by ``save`` into an ordered name -> array dict (allow_pickle=False)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load: no such file {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return OrderedDict((name, archive[name]) for name in archive.files)
    except ValueError as exc:   # object arrays would need pickle: refuse them
        raise ValueError(f"load: {path} holds something other than plain arrays ({exc})") from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"load: {path} is not a readable .npz file ({exc})") from None
