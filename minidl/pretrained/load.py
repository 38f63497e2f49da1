"""Loading weights into a model: a published checkpoint by name (located, read safely,
converted, loaded strictly), or any weights file a user keeps.

    load_pretrained(resnet20(), "resnet20")              # found on disk or downloaded
    load_weights(densenet121(), "densenet121-a639ec97.pth")   # or a converted .npz / .safetensors
"""
from __future__ import annotations

import os
from pathlib import Path

from ..serialization import load, load_safetensors
from .checkpoint import load_torch_state_dict
from .convert import convert_state_dict
from .locate import pretrained_path

__all__ = ["load_pretrained", "load_weights", "read_weights"]


def read_weights(path: str | os.PathLike) -> dict:
    """The name -> array mapping of a weights file, by its suffix: .npz (minidl.save, e.g. a
    run's best.npz or convert's output; a training checkpoint's "model" entry), .safetensors,
    anything else a PyTorch checkpoint (read without running its code)."""
    path = Path(path)
    if path.suffix == ".npz":
        state = load(path)
        return state["model"] if isinstance(state.get("model"), dict) else state
    if path.suffix == ".safetensors":
        return load_safetensors(path)
    return load_torch_state_dict(path)


def load_weights(model, path: str | os.PathLike, renames: dict[str, str] | None = None):
    """Load the weights file at ``path`` (read_weights: an original checkpoint or a converted
    copy) into ``model``, in place and strictly, through the converter's renaming and checks;
    returns the model. ValueError with the conversion report when they do not fit."""
    state, report = convert_state_dict(read_weights(path), model, renames)
    if not report.ok:
        raise ValueError(f"{path} does not hold weights for {type(model).__name__}:\n{report}")
    model.load_state_dict(state, strict=True)
    return model


def load_pretrained(model, name: str, progress: bool = True):
    """Load checkpoint ``name`` (a key of PRETRAINED) into ``model`` (in place, strict) and
    return the model.

    Raises ValueError with the conversion report when the weights do not fit the model, and
    WeightsNotFoundError (minidl.pretrained.locate) when they are nowhere to be found.
    """
    path = pretrained_path(name, progress=progress)
    state, report = convert_state_dict(read_weights(path), model)  # a converted copy: keys checked
    if not report.ok:
        raise ValueError(f"load_pretrained: {name} ({path}) does not fit {type(model).__name__}:\n{report}")
    model.load_state_dict(state, strict=True)
    return model
