"""Feature extraction: a pretrained network's activations as fixed features for a simple classifier.

    feats = extract_features(model, "pool", images)          # (N, 64, 1, 1) for a CIFAR ResNet
    clf = LogisticRegression(l2=1e-3).fit(feats.reshape(len(feats), -1), labels)   # linear_probe

``extract_features`` runs the model in eval mode without recording a graph and stops as soon as
the named layer has produced its output, so only the prefix of the network up to that layer is
computed. A classifier for the features is in minidl.transfer.linear_probe.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..progress import ProgressBar
from ..tensor import Tensor, no_grad

__all__ = ["extract_features"]


class _Captured(Exception):
    """Raised by the forward hook of the last layer asked for, to stop the forward pass."""


def _find(model, layer_name: str):
    modules = dict(model.named_modules())
    if layer_name not in modules:
        names = [n for n in modules if n]
        raise KeyError(f"extract_features: {type(model).__name__} has no layer {layer_name!r}; "
                       f"layers are {names}")
    return modules[layer_name]


def extract_features(model, layer_name, images, batch_size: int = 256, transform=None,
                     flatten: bool = False, device: str = "cpu", progress: bool = True,
                     desc: str | None = None):
    """The output of layer ``layer_name`` (a dotted name from ``model.named_modules()``; "" for
    the model's own output) for every image, as a float NumPy array (N, ...). Given a list of
    names, one pass gives every layer's output: a dict name -> array.

    images     (N, C, H, W) float array, or anything ``transform(batch)`` turns into one
               (e.g. uint8 (N, 28, 28) with minidl.transfer.adapt.GrayToRGBAdapter)
    flatten    reshape each result to (N, features)
    The model runs in eval mode under no_grad (its mode is restored afterwards); each batch
    stops right after the last of the layers, so later layers cost nothing.
    """
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"extract_features: batch_size must be a positive int, got {batch_size!r}")
    names = [layer_name] if isinstance(layer_name, str) else list(layer_name)
    layers = {name: _find(model, name) for name in names}
    n = len(images)
    captured = {name: [] for name in names}
    seen = set()                                    # the layers that have output this batch

    def capture(name):
        def save_and_stop(layer, inputs, out):     # a forward hook
            captured[name].append(backend.to_device(out.data, "cpu"))
            seen.add(name)
            if len(seen) == len(names) and model not in layers.values():
                raise _Captured
        return save_and_stop

    was_training = model.training
    model.eval()
    bar = ProgressBar(-(-n // batch_size), desc or f"features {', '.join(n or 'output' for n in names)}",
                      disable=not progress)
    hooks = [layer.register_forward_hook(capture(name)) for name, layer in layers.items()]
    try:
        with no_grad():
            for start in range(0, n, int(batch_size)):
                batch = images[start:start + int(batch_size)]
                if transform is not None:
                    batch = transform(batch)
                seen.clear()
                try:
                    model(Tensor(backend.to_device(np.asarray(batch), device)))
                except _Captured:
                    pass
                for name in names:
                    if len(captured[name]) != start // int(batch_size) + 1:
                        raise RuntimeError(f"extract_features: layer {name!r} was not called "
                                           f"exactly once in the forward pass")
                bar.update(1)
    finally:
        bar.close()
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    if n == 0:
        raise ValueError("extract_features: no images given")
    out = {name: np.concatenate(parts) for name, parts in captured.items()}
    if flatten:
        out = {name: a.reshape(n, -1) for name, a in out.items()}
    return out[layer_name] if isinstance(layer_name, str) else out
