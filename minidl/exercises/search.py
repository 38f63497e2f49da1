"""Hypothesis-drawn cases for the checks, searched outside pytest.

``for_all(cases, test, examples)`` runs ``test(case)`` on drawn cases (derandomised: the same
cases on every run, so feedback can be reproduced) and, on a failure, shrinks it to the smallest
case that still fails and raises that CheckFailed, naming the case.
"""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, Verbosity, assume, given, settings
from hypothesis import strategies as st

from ..geometry import output_size
from .core import CheckFailed, NotWritten

__all__ = ["assume", "conv_cases", "describe", "for_all", "pool_cases", "st"]


def describe(case: dict) -> str:
    """A case as 'x (2, 3, 5, 4), stride=(2, 1), ...': shapes first, then the arguments."""
    return ", ".join(f"{k} {v}" if k in SHAPE_KEYS else f"{k}={v}" for k, v in case.items())


SHAPE_KEYS = ("x", "w", "dy", "cols", "logits", "param", "X", "W1", "W2")


def for_all(cases: st.SearchStrategy, test, examples: int) -> None:
    """Run ``test`` on up to ``examples`` drawn cases; raise the smallest failing case's verdict."""
    failure = []

    @settings(max_examples=max(1, examples), deadline=None, database=None, derandomize=True,
              report_multiple_bugs=False, suppress_health_check=list(HealthCheck),
              verbosity=Verbosity.quiet, print_blob=False)
    @given(cases)
    def run(case):
        if failure:
            return
        try:
            test(case)
        except NotWritten as err:           # no case will do better: stop searching
            failure.append(err)
        except CheckFailed as err:
            raise err.with_case(describe(case)) from None

    run()
    if failure:
        raise failure[0]


def geometry_valid(size, k, s, p, d=1) -> bool:
    return output_size(size, k, s, p, d) >= 1


@st.composite
def conv_cases(draw, groups=False, dilation=True):
    """x (N, C, H, W), w (F, C/g, kh, kw) and the convolution's stride, padding, dilation."""
    g = draw(st.sampled_from([1, 2])) if groups else 1
    n, cg, fg = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    padding = draw(st.tuples(st.integers(0, 2), st.integers(0, 2)))
    dil = draw(st.tuples(st.integers(1, 2), st.integers(1, 2))) if dilation else (1, 1)
    h, w = draw(st.integers(2, 7)), draw(st.integers(2, 7))
    assume(geometry_valid(h, kh, stride[0], padding[0], dil[0]) and
           geometry_valid(w, kw, stride[1], padding[1], dil[1]))
    case = {"x": (n, cg * g, h, w), "w": (fg * g, cg, kh, kw), "stride": stride, "padding": padding,
            "dilation": dil}
    if groups:
        case["groups"] = g
    case["seed"] = draw(st.integers(0, 2**16))
    return case


@st.composite
def pool_cases(draw):
    """x (N, C, H, W) and a max-pool's kernel, stride and padding (padding <= kernel // 2)."""
    k = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    s = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    h, w = draw(st.integers(2, 7)), draw(st.integers(2, 7))
    assume(h + 2 * p[0] >= k[0] and w + 2 * p[1] >= k[1])
    return {"x": (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w), "kernel": k, "stride": s,
            "padding": p, "seed": draw(st.integers(0, 2**16))}


def shapes(min_dims=1, max_dims=3):
    return st.lists(st.integers(1, 5), min_size=min_dims, max_size=max_dims).map(tuple)


def distinct(shape, rng) -> np.ndarray:
    """Values 0.1 apart in random order, none within 0.025 of 0: no ties for a max, no kink of
    ReLU within a central difference's reach."""
    n = int(np.prod(shape))
    return (rng.permutation(np.arange(n, dtype=np.float64)) - (n - 1) / 2 + 0.25).reshape(shape) * 0.1
