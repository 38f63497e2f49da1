"""One seeded source of randomness for initialisation, dropout and data shuffling.

``minidl.manual_seed(0)`` makes a whole run repeatable, as ``torch.manual_seed`` does.
"""
from __future__ import annotations

import numpy as np

from . import backend

_generators: dict[str, object] = {}
_seed: int | None = None


def manual_seed(seed: int) -> None:
    """Reseed the CPU generator (and the GPU one, when CuPy is present)."""
    global _seed
    _seed = int(seed)
    _generators.clear()


def generator(device: str = "cpu"):
    """The shared generator for a device: a numpy Generator, or a cupy RandomState on 'cuda'."""
    if device not in _generators:
        if device == "cuda":
            _generators[device] = backend.cupy_or_none().random.RandomState(_seed)
        else:
            _generators[device] = np.random.default_rng(_seed)
    return _generators[device]
