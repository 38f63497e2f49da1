"""Pretrained weights: the published checkpoints, finding or downloading them (checked by
SHA-256), reading PyTorch checkpoints without torch or pickle's code execution, and mapping
their names onto a minidl model.

    from minidl.models import resnet20
    from minidl.pretrained import load_pretrained

    model = load_pretrained(resnet20(), "resnet20")      # strict: every tensor has its place

Layer: below minidl.models (which passes in the models and architecture names it builds),
above minidl.nn, minidl.serialization and minidl.download.
"""
from .checkpoint import (CheckpointError, DictWithAttributes, UnsafeCheckpointError,
                         load_torch_checkpoint, load_torch_state_dict)
from .convert import WRAPPER_PREFIXES, ConversionReport, convert_checkpoint, convert_state_dict
from .load import load_pretrained, load_weights, read_weights
from .locate import (SHARED_DIR, WeightsNotFoundError, guess_arch, known_name_mismatch,
                     pretrained_path, search_dirs)
from .registry import PRETRAINED, TORCHVISION, Pretrained, has_weights

__all__ = ["CheckpointError", "ConversionReport", "DictWithAttributes", "PRETRAINED", "Pretrained",
           "SHARED_DIR", "TORCHVISION", "UnsafeCheckpointError", "WeightsNotFoundError", "WRAPPER_PREFIXES", "convert_checkpoint",
           "convert_state_dict", "guess_arch", "has_weights", "known_name_mismatch", "load_pretrained", "load_torch_checkpoint",
           "load_torch_state_dict", "load_weights", "pretrained_path", "read_weights", "search_dirs"]
