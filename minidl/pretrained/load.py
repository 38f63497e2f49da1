"""Loading a published checkpoint into a model: locate, read safely, convert, load strictly."""
from __future__ import annotations

from ..serialization import load, load_safetensors
from .checkpoint import load_torch_state_dict
from .convert import convert_state_dict
from .locate import pretrained_path

__all__ = ["load_pretrained"]


def load_pretrained(model, name: str, progress: bool = True):
    """Load checkpoint ``name`` (a key of PRETRAINED) into ``model`` (in place, strict) and
    return the model.

    Raises ValueError with the conversion report when the weights do not fit the model, and
    WeightsNotFoundError (minidl.pretrained.locate) when they are nowhere to be found.
    """
    path = pretrained_path(name, progress=progress)
    read = {".npz": load, ".safetensors": load_safetensors}.get(path.suffix, load_torch_state_dict)
    state, report = convert_state_dict(read(path), model)     # a converted copy: keys checked
    if not report.ok:
        raise ValueError(f"load_pretrained: {name} ({path}) does not fit {type(model).__name__}:\n{report}")
    model.load_state_dict(state, strict=True)
    return model
