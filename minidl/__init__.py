"""minidl: a from-scratch NumPy/CuPy deep-learning engine that teaches CNNs by being one.

    import minidl
    from minidl import nn, optim, functional as F
"""
import os as _os

# A convolution hands the cores from Numba's thread pool (im2col) to OpenBLAS's (the product)
# and back, many times a step. By default each pool's idle threads spin for a while before
# sleeping, stealing the cores the other pool needs (measured on 2 cores: a 64->64 3x3
# convolution took 1100 ms instead of 85). These ask idle threads to sleep at once; they only
# take effect when set before NumPy and Numba start their pools, and a user's own values win.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import backend, cuda, functional  # noqa: E402
from .gradcheck import GradcheckError, gradcheck  # noqa: E402
from .random import manual_seed  # noqa: E402
from .serialization import load, save  # noqa: E402
from .tensor import Function, ShapeError, Tensor, enable_grad, is_grad_enabled, no_grad, tensor  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Function", "GradcheckError", "ShapeError", "Tensor", "backend", "cuda", "enable_grad",
           "functional", "gradcheck", "is_grad_enabled", "load", "manual_seed", "no_grad", "save", "tensor"]
