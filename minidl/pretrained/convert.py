"""Turn a PyTorch state dict into minidl weights, checking that every array fits the model.

Conversion is renaming plus checking, never guessing:

1. strip the wrapper prefixes PyTorch adds: ``module.`` (DataParallel) and ``_orig_mod.``
   (torch.compile);
2. apply any ``renames`` (old prefix -> new prefix) the caller knows about, e.g.
   ``{"fc.": "linear."}`` for a CIFAR ResNet whose head was called ``fc``;
3. rename legacy names the model does not have to current ones it has (LEGACY_RENAMES:
   torchvision's DenseNet checkpoints from before PyTorch 0.4 say ``denselayer1.norm.1.weight``
   for ``denselayer1.norm1.weight``; torchvision renames them with the same pattern on loading);
4. drop BatchNorm's ``num_batches_tracked`` counters (minidl's BatchNorm has none: with the
   default momentum the counter is never used);
5. compare every remaining key and shape with ``model.state_dict()``.

The :class:`ConversionReport` lists what is missing, unexpected or of the wrong shape; ``ok`` is
True only when every model entry is filled by exactly one array of its shape.
"""
from __future__ import annotations

import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..serialization import save
from ..serialization.safetensors_io import is_safetensors, load_safetensors
from .checkpoint import load_torch_state_dict

__all__ = ["ConversionReport", "LEGACY_RENAMES", "WRAPPER_PREFIXES", "convert_checkpoint",
           "convert_state_dict", "rename_legacy"]

WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# (pattern, replacement): torchvision's own DenseNet pattern, '...denselayerK.norm.1.weight' ->
# '...denselayerK.norm1.weight'
LEGACY_RENAMES = (
    (re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"),
     r"\1\2"),
)
_DROPPED_SUFFIX = "num_batches_tracked"
_SHOWN = 12     # keys listed per kind in the printed report (the lists themselves are complete)


@dataclass
class ConversionReport:
    """What converting a checkpoint into a model found. ``ok``: everything fits."""
    model: str
    converted: list[str] = field(default_factory=list)     # model keys filled
    missing: list[str] = field(default_factory=list)       # model keys the checkpoint lacks
    unexpected: list[str] = field(default_factory=list)    # checkpoint keys (renamed) with no place
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # key, model, checkpoint shape
    duplicated: list[str] = field(default_factory=list)    # keys two checkpoint entries map to
    renamed: list[tuple[str, str]] = field(default_factory=list)  # checkpoint key -> model key
    dropped: list[str] = field(default_factory=list)       # counters minidl does not keep
    nonfinite: list[str] = field(default_factory=list)     # model keys given NaN or inf values
    allow_nonfinite: bool = False                          # whether those still count as fitting
    saved_to: Path | None = None

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched or self.duplicated
                    or (self.nonfinite and not self.allow_nonfinite))

    def __str__(self) -> str:
        total = len(self.converted) + len(self.missing) + len(self.mismatched)
        verdict = "OK" if self.ok else "DOES NOT FIT"
        lines = [f"conversion into {self.model}: {verdict} -- {len(self.converted)} of {total} "
                 f"model entries filled"]
        if self.renamed:
            prefixes = sorted({_changed_prefix(old, new) for old, new in self.renamed})
            more = f", and {len(prefixes) - 3} more kinds" if len(prefixes) > 3 else ""
            lines.append(f"  renamed {len(self.renamed)} keys ({', '.join(prefixes[:3])}{more})")
        if self.dropped:
            lines.append(f"  dropped {len(self.dropped)} '{_DROPPED_SUFFIX}' counters")
        for title, keys in (("missing from the checkpoint", self.missing),
                            ("unexpected (no such entry in the model)", self.unexpected),
                            ("filled twice (two checkpoint keys map here)", self.duplicated)):
            if keys:
                lines.append(f"  {title}: {len(keys)}")
                lines += _listing(keys)
        if self.nonfinite:
            allowed = " (allowed)" if self.allow_nonfinite else \
                " -- a damaged file? (allow_nonfinite=True / --allow-nonfinite to keep them)"
            lines.append(f"  holding NaN or infinite values: {len(self.nonfinite)}{allowed}")
            lines += _listing(self.nonfinite)
        if self.mismatched:
            lines.append(f"  shape mismatch: {len(self.mismatched)}")
            lines += _listing([f"{k}: model {model}, checkpoint {ckpt}" for k, model, ckpt in self.mismatched])
        if self.saved_to is not None:
            lines.append(f"  saved to {self.saved_to}")
        return "\n".join(lines)


def _listing(items: list[str]) -> list[str]:
    shown = [f"    {item}" for item in items[:_SHOWN]]
    return shown + ([f"    ... and {len(items) - _SHOWN} more"] if len(items) > _SHOWN else [])


def _changed_prefix(old: str, new: str) -> str:
    """'module.conv1.weight', 'conv1.weight' -> "'module.' -> ''"."""
    common = 0
    while common < min(len(old), len(new)) and old[-1 - common] == new[-1 - common]:
        common += 1
    return f"{old[:len(old) - common]!r} -> {new[:len(new) - common]!r}"


def _rename(key: str, renames: dict[str, str]) -> str:
    stripped = True
    while stripped:
        stripped = False
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key, stripped = key[len(prefix):], True
    for old, new in renames.items():
        if key.startswith(old):
            return new + key[len(old):]
    return key


def rename_legacy(key: str, known=None) -> str:
    """``key`` under its current name (LEGACY_RENAMES); with ``known`` (the model's keys), only
    a key the model lacks, into one it has."""
    if known is not None and key in known:
        return key
    for pattern, replacement in LEGACY_RENAMES:
        new = pattern.sub(replacement, key)
        if new != key and (known is None or new in known):
            return new
    return key


def convert_state_dict(torch_state: dict, model, renames: dict[str, str] | None = None,
                       allow_nonfinite: bool = False):
    """Map a checkpoint's name -> array dict onto ``model``'s state dict.

    Returns ``(state, report)``: ``state`` holds, in the model's order, every entry that fits
    (cast to the model's dtype); ``report`` is a :class:`ConversionReport`, not ``ok`` when an
    entry holds NaN or infinity unless ``allow_nonfinite``. Nothing is loaded.
    """
    renames = dict(renames or {})
    own = model.state_dict()
    report = ConversionReport(model=type(model).__name__, allow_nonfinite=allow_nonfinite)
    found: dict[str, np.ndarray] = {}
    for key, value in torch_state.items():
        new = rename_legacy(_rename(key, renames), own)
        if new.rsplit(".", 1)[-1] == _DROPPED_SUFFIX and new not in own:
            report.dropped.append(key)
            continue
        if new != key:
            report.renamed.append((key, new))
        if new not in own:
            report.unexpected.append(new)
        elif new in found:
            report.duplicated.append(new)
        else:
            found[new] = np.asarray(value)
    state = OrderedDict()
    for key, target in own.items():
        if key not in found:
            report.missing.append(key)
        elif found[key].shape != target.shape:
            report.mismatched.append((key, tuple(target.shape), tuple(found[key].shape)))
        else:
            state[key] = found[key].astype(target.dtype, copy=False)
            report.converted.append(key)
            if state[key].dtype.kind in "fc" and not np.isfinite(state[key]).all():
                report.nonfinite.append(key)
    return state, report


def convert_checkpoint(path: str | os.PathLike, out_npz: str | os.PathLike, model,
                       renames: dict[str, str] | None = None, name: str | None = None,
                       allow_nonfinite: bool = False, state_dict: dict | None = None
                       ) -> ConversionReport:
    """Convert the torch.save checkpoint (or .safetensors file) at ``path`` into ``model`` (a
    freshly built minidl module, e.g. ``minidl.models.build_model(arch)``) and write minidl's
    .npz (or .safetensors, by its suffix) to ``out_npz`` --
    only when everything fits (NaN or infinite values do not, unless ``allow_nonfinite``).
    ``name`` labels the model in the report (default: its class); ``state_dict`` is the
    checkpoint's, when the caller has already read it with load_torch_state_dict.

    Returns the report (``saved_to`` is set once the file is written). Raises CheckpointError
    for an unreadable checkpoint.
    """
    if state_dict is None:
        state_dict = load_safetensors(path) if is_safetensors(path) else load_torch_state_dict(path)
    state, report = convert_state_dict(state_dict, model, renames, allow_nonfinite)
    if name is not None:
        report.model = name
    if report.ok:
        model.load_state_dict(state, strict=True)   # the same check the user's load will make
        report.saved_to = save(state, out_npz)
    return report
