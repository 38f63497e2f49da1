"""Driving one of the CPU convolution's paths (kernels/cpu/conv.py) from a test: its functions
counted, the batch cut into a chosen number of shares, settings patched for the call."""
import contextlib
from unittest import mock

from minidl.kernels.cpu import conv as nb_conv
from minidl.kernels.cpu import threads as nb_threads
from .test_numba_kernels import check_fast_convolution


def counted(fn):
    """fn, counting its calls in .calls."""
    def wrapper(*args, **kwargs):
        wrapper.calls += 1
        return fn(*args, **kwargs)
    wrapper.calls = 0
    return wrapper


def check_through(inputs, shares: int, functions: tuple[str, ...], settings=()) -> list:
    """check_fast_convolution(inputs) with conv.py's ``functions`` counted, the batch in at most
    ``shares`` shares however small it is, and each (module, name, value) of ``settings`` in place; the counted
    functions, in order, to assert on their calls."""
    fns = [counted(getattr(nb_conv, name)) for name in functions]
    with contextlib.ExitStack() as patches:
        for target, name, value in (*settings, *zip([nb_conv] * len(fns), functions, fns),
                                    (nb_threads, "shares", lambda n: max(1, min(n, shares))),
                                    (nb_threads, "PARALLEL_WORK", 0)):
            patches.enter_context(mock.patch.object(target, name, value))
        check_fast_convolution(inputs, None)
    return fns
