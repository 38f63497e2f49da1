"""Running the engine with a student's functions in place of minidl's ops.

``in_engine(overrides)`` forces the plain NumPy kernels (so every op the student's function
feeds goes through the dispatch) and swaps each (op, function) pair in with ``Op.override``;
``engine_gradcheck`` runs minidl's float64 gradcheck inside that block.
"""
from __future__ import annotations

import contextlib

from .. import kernels
from ..gradcheck import gradcheck
from .compare import gradcheck_verdict
from .core import CheckFailed

TOL = dict(atol=1e-6, rtol=1e-4)


@contextlib.contextmanager
def in_engine(overrides=()):
    """The block runs with the overrides; an error minidl's own code raises there (on what the
    student's function returned) becomes a CheckFailed saying so."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(kernels.use_reference())
        for op, fn in overrides:
            stack.enter_context(op.override(fn))
        try:
            yield
        except CheckFailed:
            raise
        except Exception as err:
            names = ", ".join(op.name for op, _ in overrides) or "your function"
            raise CheckFailed(f"minidl's own code, running on what your {names} returned, raised "
                              f"{type(err).__name__}: {err}",
                              "the shapes, dtypes and index conventions the docstring names: the "
                              "rest of the engine relies on them") from None


def engine_gradcheck(overrides, fn, inputs, names, hint: str) -> None:
    """gradcheck ``fn(*inputs)`` (float64 Tensors) with the overrides in place; a failure names
    the input (``names[i]``) and element."""
    with in_engine(overrides):
        result = gradcheck(fn, inputs, raise_exception=False, **TOL)
    gradcheck_verdict(result, names, hint)
