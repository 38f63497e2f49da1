"""minidl: a from-scratch NumPy/CuPy deep-learning engine that teaches CNNs by being one.

    import minidl
    from minidl import nn, optim, functional as F

``import minidl`` gives every subpackage as an attribute, as ``import torch`` gives ``torch.nn``:
the core ones (nn, optim, data, train, models, transfer, pretrained, ...) are imported at once,
those behind optional dependencies or seldom needed (``_LAZY``) on first use.
"""
import importlib

from . import process  # noqa: F401  first: its settings must precede NumPy's and Numba's start
from . import backend, cuda, functional
from . import data, models, nn, optim, pretrained, train, transfer
from .gradcheck import GradcheckError, gradcheck
from .random import manual_seed
from .serialization import load, save
from .tensor import Function, ShapeError, Tensor, enable_grad, is_grad_enabled, no_grad, tensor

__version__ = "0.1.0"

_LAZY = ("cli", "distributed", "exercises", "graph", "kernels", "memory", "onnx", "plot", "viz")

__all__ = ["Function", "GradcheckError", "ShapeError", "Tensor", "backend", "cuda", "data",
           "enable_grad", "functional", "gradcheck", "is_grad_enabled", "load", "manual_seed",
           "models", "nn", "no_grad", "optim", "pretrained", "save", "tensor", "train", "transfer"]


def __getattr__(name: str):
    """minidl.viz, minidl.distributed, ...: imported when first named (PEP 562)."""
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'minidl' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
