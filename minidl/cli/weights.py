"""A zoo model with weights, for the predict, evaluate and finetune commands.

    model, source = model_with_weights("densenet121", Path("densenet121.npz"))

--weights FILE is any file minidl.pretrained.read_weights reads (a PyTorch checkpoint as
published, a copy converted by ``convert``, a train/finetune run's best.npz); its head's class
count is read from the file. Without one, the published weights of the architecture (the CIFAR
ResNets', downloaded if needed; torchvision's ImageNet ones, on disk) -- or a WeightsNotFoundError
whose one message says where minidl looked, what to set and where to download from.
A weights file that sits in a run folder brings the run's facts (``run_meta``): the classes and
the preprocessing the model was trained with.
"""
from __future__ import annotations

import json
from pathlib import Path

from .. import nn
from ..models.zoo import ARCHITECTURES, build_model
from ..pretrained import WRAPPER_PREFIXES, has_weights, load_pretrained, load_weights, read_weights

__all__ = ["adapt_to_torchvision", "head_classes", "model_with_weights", "run_meta"]

# the ImageNet models whose torchvision weights expect inputs rescaled by transform_input
_TRANSFORM_INPUT = ("googlenet", "inception_v3")


def run_meta(weights: Path | None) -> dict | None:
    """The meta of the history.json beside ``weights`` (written by train or finetune), if any."""
    if weights is None or not (weights.parent / "history.json").is_file():
        return None
    try:
        meta = json.loads((weights.parent / "history.json").read_text(encoding="utf-8")).get("meta", {})
    except (OSError, ValueError):
        return None
    return meta if {"classes", "normalize", "image_shape"} <= set(meta) else None


def _strip(key: str) -> str:
    for prefix in WRAPPER_PREFIXES:
        key = key.removeprefix(prefix)
    return key


def head_classes(arch: str, state: dict) -> int | None:
    """The class count of ``state``'s head: the rows of the weight of the architecture's last
    Linear layer, None when the file has no such entry."""
    model = build_model(arch)
    heads = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    key = f"{heads[-1]}.weight" if heads else None
    for name, value in state.items():
        if key is not None and _strip(name) == key and getattr(value, "ndim", 0) == 2:
            return int(value.shape[0])
    return None


def model_with_weights(arch: str, weights: Path | None, num_classes: int | None = None,
                       in_channels: int | None = None, progress: bool = True):
    """(model in eval mode, where its weights came from). Raises WeightsNotFoundError, or
    FileNotFoundError / ValueError (an unreadable file, weights of another model) with one
    message."""
    spec = ARCHITECTURES[arch]
    if weights is not None:
        if not weights.is_file():
            raise FileNotFoundError(f"--weights {weights}: no such file")
        state = read_weights(weights)
        classes = num_classes or head_classes(arch, state)
        meta = run_meta(weights)
        channels = in_channels or (meta["image_shape"][0] if meta and spec.in_channels is None else None)
        model = build_model(arch, classes, channels)
        load_weights(model, weights)
        source = str(weights)
    elif has_weights(arch):
        model = load_pretrained(build_model(arch, num_classes, in_channels), arch, progress=progress)
        source = f"the published {arch} weights"
    else:
        raise FileNotFoundError(f"{arch} has no published weights in minidl; pass --weights FILE "
                                f"(e.g. converted from torchvision's with 'python -m minidl convert')")
    adapt_to_torchvision(model, arch, weights)
    return model.eval(), source


def adapt_to_torchvision(model, arch: str, weights: Path | None) -> None:
    """GoogLeNet and Inception-v3 with torchvision's weights (any not from a minidl run) take
    their inputs rescaled as torchvision's transform_input does."""
    if arch in _TRANSFORM_INPUT and run_meta(weights) is None:
        model.transform_input = True
