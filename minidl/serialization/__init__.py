"""Saving and loading: ``save``/``load`` (.npz of plain arrays with a manifest, see
``minidl.serialization.npz``), atomic file writes (``files``), and reading zip archives and
.npy members from untrusted files within the bytes they store (``zipread``, ``npy``).
"""
from .files import atomic_write, default_file_mode, remove_stale_parts
from .npz import MANIFEST, MAX_DEPTH, SerializationError, load, save
from .safetensors_io import SafetensorsFileError, load_safetensors, save_safetensors

__all__ = ["MANIFEST", "MAX_DEPTH", "SerializationError", "atomic_write", "default_file_mode",
           "SafetensorsFileError", "load", "load_safetensors", "remove_stale_parts", "save",
           "save_safetensors"]
