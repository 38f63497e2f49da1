"""Fast kernels, and the dispatch that picks one (installed as ``minidl.kernels``).

Every hot op of minidl is written once as plain NumPy/CuPy code, the lecture's algorithm, in
``minidl.functional``. Decorating it with ``dispatch`` makes it an ``Op`` whose versions are
attributes, one hop from the op:

    from minidl.functional.conv import im2col
    im2col.reference      # the plain code in minidl/functional/conv.py
    im2col.cpu            # kernels/cpu/windows.py: Numba
    im2col.cuda           # kernels/cuda/windows.py: a CUDA kernel through CuPy

``im2col(x, ...)`` runs the version for ``x``'s device (a CuPy array gets ``.cuda``, anything
else ``.cpu``), or the reference where the op has no such version, or when it is forced:

    with kernels.use_reference():          # for teaching and for tests
        ...
    MINIDL_KERNELS=reference python ...    # the same, for a whole run

A fast version takes and returns the same arrays as its reference; tests check that they agree.
A case it has nothing faster for it returns as ``NotImplemented``, and the reference runs it.
``NUMBA_DISABLE_JIT=1`` runs the Numba kernels as plain Python, to step through them.
``with kernels.timing() as seconds:`` times every dispatched call inside the block, and
``with im2col.override(my_im2col):`` runs your own function in its place.
"""
from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from typing import Callable

from ..backend import cupy_or_none, is_cupy_array
from . import cpu, cuda

_state = threading.local()
OPS: list["Op"] = []            # every Op made, in the order made (for status())


class Op:
    """One op and its versions: ``reference`` (plain NumPy/CuPy), ``cpu`` and ``cuda`` (or None)."""

    def __init__(self, reference: Callable, cpu: Callable | None = None, cuda: Callable | None = None):
        functools.update_wrapper(self, reference)
        self.name = reference.__name__
        self.reference, self.cpu, self.cuda = reference, cpu, cuda
        OPS.append(self)

    def version_for(self, like) -> Callable:
        """The version that runs for arrays like ``like``."""
        override = getattr(_state, "overrides", {}).get(self)
        if override is not None:
            return override
        if reference_forced():
            return self.reference
        fast = self.cuda if is_cupy_array(like) else self.cpu
        return fast or self.reference

    def __call__(self, *args, **kwargs):
        impl = self.version_for(args[0])
        timer = getattr(_state, "timer", None)
        out = impl(*args, **kwargs) if timer is None else timer.call(self.name, impl, args, kwargs)
        if out is NotImplemented:           # a fast version leaves this case to the reference
            out = self.reference(*args, **kwargs)
        return out

    @contextlib.contextmanager
    def override(self, fn: Callable):
        """Run ``fn`` in place of every version of this op inside the block (on this thread):
        how a student's own im2col is tried inside the whole engine."""
        overrides = _state.__dict__.setdefault("overrides", {})
        previous = overrides.get(self)
        overrides[self] = fn
        try:
            yield fn
        finally:
            if previous is None:
                del overrides[self]
            else:
                overrides[self] = previous

    def __repr__(self) -> str:
        versions = ", ".join(v for v in ("cpu", "cuda") if getattr(self, v) is not None)
        return f"<op {self.name}: reference{', ' + versions if versions else ''}>"


def dispatch(cpu: Callable | None = None, cuda: Callable | None = None) -> Callable[[Callable], Op]:
    """Decorator: the function below is the reference; ``cpu`` and ``cuda`` its fast versions."""
    return lambda reference: Op(reference, cpu=cpu, cuda=cuda)


def reference_forced() -> bool:
    """True inside ``use_reference()`` or when MINIDL_KERNELS=reference."""
    forced = getattr(_state, "force_reference", None)
    if forced is not None:
        return forced
    return os.environ.get("MINIDL_KERNELS", "").strip().lower() in {"reference", "numpy", "off"}


@contextlib.contextmanager
def use_reference(enabled: bool = True):
    """Run the plain reference of every op inside the block (``False``: the fast versions)."""
    previous = getattr(_state, "force_reference", None)
    _state.force_reference = enabled
    try:
        yield
    finally:
        _state.force_reference = previous


def status() -> dict[str, str]:
    """For each backend: 'ok (ops...)' or why it is unavailable; and whether the CPU's stride-1
    convolution can take its direct BLAS products (kernels/cpu/winograd.py, shifted_conv.py)."""
    out = {}
    for backend, reason in (("cpu", cpu.UNAVAILABLE), ("cuda", cuda.UNAVAILABLE)):
        ops = sorted(op.name for op in OPS if getattr(op, backend) is not None)
        out[backend] = f"unavailable ({reason})" if reason else f"ok ({', '.join(ops)})"
    why = cpu.blas.available()
    for path in ("cpu_winograd_conv", "cpu_shifted_conv"):
        out[path] = f"unavailable, im2col instead ({why})" if why else "ok (NumPy's cblas_sgemm/dgemm)"
    return out


class OpTimes(dict):
    """{op name: seconds} of the dispatched calls in a ``timing()`` block; ``calls``: {op: count}.

    An op's seconds leave out the dispatched ops it calls in turn, so the values add up to the
    time spent in dispatched calls."""

    def __init__(self):
        super().__init__()
        self.calls: dict[str, int] = {}
        self._inner = [0.0]                 # time of nested calls, one entry per open call

    def call(self, name, impl, args, kwargs):
        gpu = is_cupy_array(args[0])
        self._inner.append(0.0)
        start = _now(gpu)
        try:
            return impl(*args, **kwargs)
        finally:
            elapsed = _now(gpu) - start
            inner = self._inner.pop()
            self._inner[-1] += elapsed
            self[name] = self.get(name, 0.0) + elapsed - inner
            self.calls[name] = self.calls.get(name, 0) + 1


def _now(gpu: bool) -> float:
    if gpu:
        cupy_or_none().cuda.Device().synchronize()
    return time.perf_counter()


@contextlib.contextmanager
def timing():
    """Time every dispatched op inside the block: yields an ``OpTimes`` filled as it runs.

    conv2d_forward's time leaves out the im2col it calls. GPU calls are synchronised."""
    previous = getattr(_state, "timer", None)
    _state.timer = times = OpTimes()
    try:
        yield times
    finally:
        _state.timer = previous
