"""minidl: a from-scratch NumPy/CuPy deep-learning engine that teaches CNNs by being one.

    import minidl
    from minidl import nn, optim, functional as F
"""
from . import process  # noqa: F401  first: its settings must precede NumPy's and Numba's start
from . import backend, cuda, functional
from .gradcheck import GradcheckError, gradcheck
from .random import manual_seed
from .serialization import load, save
from .tensor import Function, ShapeError, Tensor, enable_grad, is_grad_enabled, no_grad, tensor

__version__ = "0.1.0"

__all__ = ["Function", "GradcheckError", "ShapeError", "Tensor", "backend", "cuda", "enable_grad",
           "functional", "gradcheck", "is_grad_enabled", "load", "manual_seed", "no_grad", "save", "tensor"]
