"""Comparing a student's arrays with minidl's, and saying where and how they differ.

``assert_close`` fails with the worst element (its index, both values, the error) and, when the
difference has a telling pattern, what it looks like: the negative of the answer, the answer
times a constant, its transpose, all zeros, or the right values in the wrong dtype.
"""
from __future__ import annotations

import numpy as np

from ..gradcheck import GradcheckResult
from .core import CheckFailed

TOLERANCES = {np.dtype(np.float32): (1e-5, 1e-4)}      # (atol, rtol); otherwise float64's
ATOL, RTOL = 1e-8, 1e-6


def _pattern(got: np.ndarray, expected: np.ndarray) -> str:
    """A common mistake the difference points to, or ''."""
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    if scale == 0:
        return ""
    close = lambda a, b: np.allclose(a, b, atol=1e-6 * scale, rtol=1e-5)  # noqa: E731
    if not got.any():
        return "your result is all zeros"
    if close(got, -expected):
        return "your result is the NEGATIVE of the expected one: a sign is flipped"
    flat_e, flat_g = expected.ravel(), got.ravel()
    k = int(np.argmax(np.abs(flat_e)))
    ratio = flat_g[k] / flat_e[k]
    if np.count_nonzero(flat_e) >= 3 and ratio != 0 and close(got, ratio * expected):
        return f"your result is the expected one times {ratio:.6g}: a constant factor is off (a mean's 1/N?)"
    if got.ndim >= 2 and got.shape[-2] == got.shape[-1] and close(got, np.swapaxes(expected, -1, -2)):
        return "your result has its last two axes swapped (rows for columns)"
    return ""


def assert_close(what: str, got, expected, atol: float | None = None, rtol: float | None = None,
                 hint: str = "", dtype=None) -> None:
    """``got`` (the student's) equals ``expected`` (minidl's) within atol + rtol |expected|
    (by default 1e-8 + 1e-6 |expected|, float32 1e-5 + 1e-4 |expected|); ``dtype``: the dtype
    it must have (the input's, so the engine keeps float32 float32)."""
    expected = np.asarray(expected)
    default = TOLERANCES.get(expected.dtype, (ATOL, RTOL))
    atol, rtol = default[0] if atol is None else atol, default[1] if rtol is None else rtol
    if got is None or not hasattr(got, "shape"):
        raise CheckFailed(f"{what}: expected an array of shape {expected.shape}, got {type(got).__name__}"
                          f" {got!r:.60}", hint or "return the array, do not only print it")
    got = np.asarray(got)
    if got.shape != expected.shape:
        if got.ndim == 2 and got.shape == expected.shape[::-1] and np.allclose(got.T, expected, atol=atol, rtol=rtol):
            raise CheckFailed(f"{what}: your result is the TRANSPOSE of the expected one (shape {got.shape}, "
                              f"expected {expected.shape})", hint)
        if got.size == expected.size and np.allclose(got.reshape(expected.shape), expected, atol=atol, rtol=rtol):
            raise CheckFailed(f"{what}: the right values in the wrong shape {got.shape}, expected "
                              f"{expected.shape}", "reshape to the shape the docstring names")
        raise CheckFailed(f"{what}: shape {got.shape}, expected {expected.shape}", hint)
    if dtype is not None and got.dtype != np.dtype(dtype):
        raise CheckFailed(f"{what}: dtype {got.dtype}, expected {np.dtype(dtype)} (the input's)",
                          "create arrays with dtype=x.dtype (np.zeros(shape, dtype=x.dtype)); "
                          "float64 constants promote float32 arrays")
    if got.dtype.kind not in "fiub":
        raise CheckFailed(f"{what}: dtype {got.dtype}, expected numbers", hint)
    error = np.abs(got.astype(np.float64) - expected)
    excess = error - (atol + rtol * np.abs(expected))
    excess = np.where(np.isnan(excess), np.inf, excess)
    if not excess.size or excess.max() <= 0:
        return
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), excess.shape))
    wrong = int((excess > 0).sum())
    message = (f"{what}: {wrong} of {excess.size} elements differ; worst {what}{list(worst)}: "
               f"yours {float(got[worst]):.10g}, expected {float(expected[worst]):.10g} "
               f"(abs error {float(error[worst]):.3g})")
    pattern = _pattern(got.astype(np.float64), expected.astype(np.float64))
    if pattern:
        message += f"\n{pattern}"
    raise CheckFailed(message, hint)


def assert_equal(what: str, got, expected, hint: str = "") -> None:
    """Exactly equal arrays (indices, masks)."""
    assert_close(what, got, expected, atol=0, rtol=0, hint=hint)


def gradcheck_verdict(result: GradcheckResult, names: list[str], hint: str) -> None:
    """A failed minidl.gradcheck result as a CheckFailed naming the input and element."""
    if result.passed:
        return
    raise CheckFailed(f"gradcheck (float64 central differences) fails: worst element "
                      f"d/d{names[result.input_index]}{list(result.element)}: your backward gives "
                      f"{result.analytic:.10g}, central differences {result.numerical:.10g} "
                      f"(abs error {result.max_abs_error:.3g})", hint)
