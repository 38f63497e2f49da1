"""Checking numeric arguments: integers that are integers (not True, 2.5, NaN or None) and
floats that are finite, with messages naming the function and the argument."""
from __future__ import annotations

import math
import numbers

__all__ = ["check_float", "check_int"]


def check_int(value, name: str, minimum: int | None = None) -> int:
    """``value`` as an int: an integral number (a whole float such as 5.0 included), not a bool,
    at least ``minimum``; ValueError / TypeError saying ``name`` (e.g. 'DataLoader: batch_size')."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be an int{_at_least(minimum)}, got {_show(value)}")
    if not (isinstance(value, numbers.Integral) or (math.isfinite(value) and value == int(value))):
        raise ValueError(f"{name} must be an int{_at_least(minimum)}, got {_show(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int{_at_least(minimum)}, got {value}")
    return value


def check_float(value, name: str, minimum: float | None = None, maximum: float | None = None,
                open_minimum: bool = False) -> float:
    """``value`` as a finite float within [minimum, maximum] ((minimum, maximum] with
    open_minimum); ValueError / TypeError saying ``name``."""
    limits = "".join([f" > {minimum:g}" if open_minimum and minimum is not None else
                      f" >= {minimum:g}" if minimum is not None else "",
                      f" and <= {maximum:g}" if maximum is not None else ""])
    what = f"{name} must be a finite number{limits}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what}, got {_show(value)}")
    value = float(value)
    if not math.isfinite(value) or (minimum is not None and (value < minimum or
                                                              (open_minimum and value == minimum))) \
            or (maximum is not None and value > maximum):
        raise ValueError(f"{what}, got {value!r}")
    return value


def _at_least(minimum) -> str:
    return "" if minimum is None else f" >= {minimum}"


def _show(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}" if not isinstance(value, (int, float)) else text
