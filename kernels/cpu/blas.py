"""The matrix product of the BLAS library NumPy loaded, called directly (``gemm``).

``a @ b`` in NumPy needs whole arrays. The shifted-window convolution (``shifted_conv.py``)
multiplies windows of one long buffer, strided views NumPy would copy first, and adds each product
into the last one (BLAS's beta = 1), which ``@`` cannot. The C interface, cblas_?gemm, does both:
a matrix is a pointer, its row stride and a flag for transposed.

Only a 64-bit-integer OpenBLAS is bound (the symbols ``cblas_sgemm64_``, with or without the
``scipy_`` prefix of NumPy's own wheels); each binding multiplies two small matrices once and is
kept only if the result matches NumPy's. Where none is found, ``available()`` says why and the
convolution keeps its im2col path.
"""
from __future__ import annotations

import ctypes
import functools

import numpy as np
from numba import njit

from .common import ONE_THREAD

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112          # cblas_?gemm's layout and transpose flags
_SYMBOLS = {np.dtype(np.float32): ("sgemm", ctypes.c_float), np.dtype(np.float64): ("dgemm", ctypes.c_double)}


@njit(**ONE_THREAD)
def address(a, offset):
    """The address of element ``offset`` of the flat array ``a``: a plain integer, compiled or
    run as Python (NUMBA_DISABLE_JIT=1), as ctypes wants it."""
    return int(a.ctypes.data) + offset * a.itemsize


@functools.cache
def _bindings() -> tuple[dict, str]:
    """({dtype: cblas function}, "" or why there are none)."""
    from threadpoolctl import ThreadpoolController

    libs = ThreadpoolController().select(internal_api="openblas").lib_controllers
    why = "NumPy's BLAS is not OpenBLAS" if not libs else ""
    for lib in libs:
        found, dll = {}, ctypes.CDLL(lib.filepath)     # the copy already loaded, not a second one
        for dtype, (name, scalar) in _SYMBOLS.items():
            for symbol in (f"scipy_cblas_{name}64_", f"cblas_{name}64_"):
                fn = getattr(dll, symbol, None)
                if fn is not None:
                    i64, ptr = ctypes.c_int64, ctypes.c_void_p
                    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, i64, i64, i64, scalar,
                                   ptr, i64, ptr, i64, scalar, ptr, i64]
                    fn.restype = None
                    found[dtype] = fn
                    break
        if len(found) == len(_SYMBOLS) and all(_agrees(fn, dtype) for dtype, fn in found.items()):
            return found, ""
        why = f"{lib.filepath} has no 64-bit-integer cblas_sgemm/dgemm that agrees with NumPy"
    return {}, why


def _agrees(fn, dtype) -> bool:
    """One 3x4 @ 4x5 product through ``fn``, checked against NumPy's."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal((4, 5)).astype(dtype)
    c = np.zeros((3, 5), dtype=dtype)
    fn(ROW_MAJOR, NO_TRANS, NO_TRANS, 3, 5, 4, 1.0, a.ctypes.data, 4, b.ctypes.data, 5, 0.0, c.ctypes.data, 5)
    return bool(np.allclose(c, a @ b, rtol=1e-5))


def available() -> str:
    """"" when ``gemm`` can run, else the reason it cannot."""
    return _bindings()[1]


def function(dtype):
    """The bound cblas_sgemm or cblas_dgemm for ``dtype`` itself (a ctypes function, which Numba
    code can call with the GIL released); ``available()`` must be "" first."""
    return _bindings()[0][np.dtype(dtype)]


def gemm(dtype, trans_a: bool, trans_b: bool, m: int, n: int, k: int,
         a: np.ndarray, a_at: int, lda: int, b: np.ndarray, b_at: int, ldb: int,
         beta: float, c: np.ndarray, c_at: int, ldc: int) -> None:
    """C = op(A) @ op(B) + beta C, row-major, where A starts at element ``a_at`` of the flat
    C-contiguous array ``a`` with ``lda`` elements between its rows (likewise B, C); op(A) is
    (m, k), op(B) (k, n), C (m, n). Every matrix is checked to lie inside its array first: a
    pointer past the end would not raise, it would corrupt memory."""
    for name, arr, at, ld, (rows, cols) in (("A", a, a_at, lda, (k, m) if trans_a else (m, k)),
                                            ("B", b, b_at, ldb, (n, k) if trans_b else (k, n)),
                                            ("C", c, c_at, ldc, (m, n))):
        if arr.dtype != dtype or not arr.flags.c_contiguous or at < 0 or cols > ld or \
                at + (rows - 1) * ld + cols > arr.size:
            raise ValueError(f"gemm: {name} ({rows}x{cols} from element {at}, row stride {ld}) does not "
                             f"lie inside its {arr.dtype} array of {arr.size} elements")
    size = np.dtype(dtype).itemsize
    _bindings()[0][np.dtype(dtype)](
        ROW_MAJOR, TRANS if trans_a else NO_TRANS, TRANS if trans_b else NO_TRANS, m, n, k, 1.0,
        a.ctypes.data + a_at * size, lda, b.ctypes.data + b_at * size, ldb, beta,
        c.ctypes.data + c_at * size, ldc)
