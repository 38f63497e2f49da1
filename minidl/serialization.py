"""Saving and loading as .npz: plain arrays, no pickle, nothing executed on load.

A flat name -> array mapping (``model.state_dict()``) is stored as one array per name, readable
by ``np.load`` alone. Anything nested (a checkpoint such as ``{"model": model.state_dict(),
"optimizer": opt.state_dict(), "epoch": 3}``) is stored as its arrays plus a JSON outline of the
structure (dicts, lists, tuples, numbers, strings, booleans, None) in one extra entry; JSON can
only describe data, so loading it cannot run code either.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from . import backend
from .download import default_file_mode
from .tensor import Tensor

STRUCTURE = "__minidl_structure__"   # the .npz entry holding the JSON outline of a nested object


def _is_array(value) -> bool:
    return isinstance(value, (np.ndarray, Tensor)) or backend.is_cupy_array(value)


def _flat(obj) -> bool:
    """A str -> array mapping, saved as plain named arrays."""
    return isinstance(obj, dict) and all(isinstance(k, str) and k != STRUCTURE and _is_array(v)
                                         for k, v in obj.items())


def _outline(value, arrays: dict, where: str):
    """JSON-able description of value; its arrays go into ``arrays`` under numbered names."""
    if _is_array(value):
        name = f"a{len(arrays)}"
        arrays[name] = backend.to_device(getattr(value, "data", value), "cpu")
        return {"array": name}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [_outline(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"save: dict keys must be str or int, got {k!r} at {where}")
            items.append([k, _outline(v, arrays, f"{where}[{k!r}]")])
        return {"dict": items}
    raise TypeError(f"save: cannot store {type(value).__name__} at {where} (arrays, numbers, "
                    f"strings, booleans, None, and dicts, lists and tuples of them only)")


def _rebuild(node, archive, path):
    """The object an outline describes, arrays read from the archive."""
    try:
        (kind, content), = node.items()
        if kind == "array":
            return archive[content]
        if kind == "value":
            return content
        if kind in ("list", "tuple"):
            items = [_rebuild(n, archive, path) for n in content]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            return OrderedDict((k, _rebuild(n, archive, path)) for k, n in content)
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"load: {path} has a damaged structure entry ({exc!r})") from None
    raise ValueError(f"load: {path} has an unknown node {kind!r} in its structure entry")


def save(obj, path) -> Path:
    """Write ``obj`` to ``path`` (.npz), atomically: a name -> array mapping (e.g.
    ``model.state_dict()``), or a nested checkpoint of dicts, lists and tuples holding arrays,
    numbers, strings, booleans and None (e.g. with ``optimizer.state_dict()``)."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
    if _flat(obj):
        arrays = OrderedDict((name, backend.to_device(getattr(v, "data", v), "cpu")) for name, v in obj.items())
    else:
        arrays = OrderedDict()
        outline = _outline(obj, arrays, "the top level")
        arrays[STRUCTURE] = np.array(json.dumps(outline))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, default_file_mode())    # mkstemp's file is private (0600); give it open()'s mode
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def load(path):
    """Read a .npz written by ``save`` (np.load with allow_pickle=False): an ordered name ->
    array dict for a flat mapping, or the nested object that was saved (dicts come back as
    OrderedDicts, numbers as Python numbers)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load: no such file {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if STRUCTURE not in archive.files:
                return OrderedDict((name, archive[name]) for name in archive.files)
            try:
                outline = json.loads(str(archive[STRUCTURE]))
            except json.JSONDecodeError as exc:
                raise ValueError(f"load: {path} has a damaged structure entry ({exc})") from None
            return _rebuild(outline, archive, path)
    except ValueError as exc:   # object arrays would need pickle: refuse them
        if str(exc).startswith("load: "):
            raise
        raise ValueError(f"load: {path} holds something other than plain arrays ({exc})") from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"load: {path} is not a readable .npz file ({exc})") from None
