"""argparse types for the commands' numbers: ints and finite floats (``nan``, ``inf``, ``1.5``
for a count are refused by argparse with a one-line message naming the option)."""
from __future__ import annotations

import argparse
import math

__all__ = ["finite_float", "fraction", "nonnegative_float", "nonnegative_int", "positive_float",
           "positive_int"]


def _int(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= {minimum}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected an int >= {minimum}, got {value}")
    return value


def _float(text: str, what: str, ok) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and ok(value)):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _int(text, 1)


def nonnegative_int(text: str) -> int:
    return _int(text, 0)


def finite_float(text: str) -> float:
    return _float(text, "a finite number", lambda v: True)


def positive_float(text: str) -> float:
    return _float(text, "a finite number > 0", lambda v: v > 0)


def nonnegative_float(text: str) -> float:
    return _float(text, "a finite number >= 0", lambda v: v >= 0)


def fraction(text: str) -> float:
    return _float(text, "a finite number in (0, 1)", lambda v: 0 < v < 1)
