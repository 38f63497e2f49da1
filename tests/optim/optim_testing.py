"""Shared pieces of the optimizer tests: a small least-squares-like problem whose gradient depends
on the current weights (so a wrong update changes every later gradient), and a driver that runs
an optimizer on it. Reference loops live in each test file, written from the textbook formulas."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from minidl.nn import Parameter

__all__ = ["Parameter", "Problem", "SEEDS", "SHAPES", "STEPS", "assert_trajectories_close", "run"]

SHAPES = st.lists(array_shapes(min_dims=1, max_dims=3, max_side=4), min_size=1, max_size=3)
SEEDS = st.integers(0, 2**32 - 1)
STEPS = 6


class Problem:
    """Weights w_k (float64) and the gradient of step t: scale_k * (w - target_k) + noise_tk."""

    def __init__(self, seed: int, shapes, steps: int = STEPS):
        rng = np.random.default_rng(seed)
        self.w0 = [rng.standard_normal(s) for s in shapes]
        self.target = [rng.standard_normal(s) for s in shapes]
        self.scale = [rng.uniform(0.5, 2.0, s) for s in shapes]
        self.noise = [[0.3 * rng.standard_normal(s) for s in shapes] for _ in range(steps)]
        self.steps = steps

    def grad(self, t: int, k: int, w: np.ndarray) -> np.ndarray:
        return self.scale[k] * (w - self.target[k]) + self.noise[t][k]


def run(make_optimizer, problem: Problem):
    """Train Parameters from problem.w0 for problem.steps steps; returns the weights after each
    step (list over steps of list over parameters), the parameters and the optimizer."""
    params = [Parameter(w.copy()) for w in problem.w0]
    opt = make_optimizer(params)
    trajectory = []
    for t in range(problem.steps):
        for k, p in enumerate(params):
            p.grad = problem.grad(t, k, p.data.copy())
        opt.step()
        trajectory.append([p.data.copy() for p in params])
    return trajectory, params, opt


def assert_trajectories_close(actual, expected, rtol=1e-10, atol=1e-12):
    """Every weight after every step agrees (float64 on both sides; only rounding differs)."""
    assert len(actual) == len(expected)
    for t, (got_step, want_step) in enumerate(zip(actual, expected)):
        for k, (got, want) in enumerate(zip(got_step, want_step)):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol,
                                       err_msg=f"step {t + 1}, parameter {k}")
