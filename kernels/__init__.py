"""The registry of fast kernels (installed as ``minidl.kernels``).

minidl's readable NumPy code is the reference for every op. A fast path registers itself here
under the op's name and a backend ("cpu" for Numba, "cuda" for CuPy), and the engine asks

    impl = kernels.lookup("im2col", im2col, like=x)

which returns the registered implementation for ``x``'s device, or the reference itself when
there is none, when its backend failed to load, or when the reference is forced:

    with kernels.use_reference():      # for teaching and for tests
        ...
    MINIDL_KERNELS=reference python ...   # the same, for a whole run

A fast kernel takes and returns the same arrays as its reference; tests check that they agree.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import threading
from typing import Callable

from ._checks import out_array  # noqa: F401  (the reference im2col checks its out= with it too)

_IMPLS: dict[tuple[str, str], Callable] = {}
_BACKEND_MODULES = {"cpu": "minidl.kernels.numba_cpu", "cuda": "minidl.kernels.cupy_gpu"}
_loaded: dict[str, str | None] = {}  # backend -> None if loaded, else the reason it is unavailable
_state = threading.local()


def register(op: str, backend: str) -> Callable[[Callable], Callable]:
    """Decorator: make ``fn`` the ``backend`` implementation of ``op``."""
    if backend not in _BACKEND_MODULES:
        raise ValueError(f"unknown backend {backend!r}: expected one of {sorted(_BACKEND_MODULES)}")

    def deco(fn: Callable) -> Callable:
        _IMPLS[(op, backend)] = fn
        return fn

    return deco


def _backend_of(array) -> str:
    return "cuda" if type(array).__module__.split(".")[0] == "cupy" else "cpu"


def _load(backend: str) -> str | None:
    if backend not in _loaded:
        try:
            importlib.import_module(_BACKEND_MODULES[backend])
            _loaded[backend] = None
        except Exception as exc:  # numba or cupy missing or broken: fall back to the reference
            _loaded[backend] = f"{type(exc).__name__}: {exc}"
    return _loaded[backend]


def reference_forced() -> bool:
    """True inside ``use_reference()`` or when MINIDL_KERNELS=reference."""
    if getattr(_state, "force_reference", False):
        return True
    return os.environ.get("MINIDL_KERNELS", "").strip().lower() in {"reference", "numpy", "off"}


def lookup(op: str, reference: Callable, like) -> Callable:
    """The fast implementation of ``op`` for arrays like ``like``, else ``reference``."""
    if reference_forced():
        return reference
    backend = _backend_of(like)
    if _load(backend) is not None:
        return reference
    return _IMPLS.get((op, backend), reference)


def get(op: str, backend: str) -> Callable | None:
    """The registered implementation (loading its backend), or None; for tests and benchmarks."""
    _load(backend)
    return _IMPLS.get((op, backend))


def status() -> dict[str, str]:
    """For each backend: 'ok (ops...)' or why it is unavailable."""
    out = {}
    for backend in _BACKEND_MODULES:
        reason = _load(backend)
        ops = sorted(op for (op, b) in _IMPLS if b == backend)
        out[backend] = f"unavailable ({reason})" if reason else f"ok ({', '.join(ops)})"
    return out


@contextlib.contextmanager
def use_reference(enabled: bool = True):
    """Force the plain NumPy/CuPy reference implementations inside the block."""
    previous = getattr(_state, "force_reference", False)
    _state.force_reference = enabled
    try:
        yield
    finally:
        _state.force_reference = previous
