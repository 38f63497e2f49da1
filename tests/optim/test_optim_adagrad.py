"""Adagrad against a NumPy loop of its textbook update."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.optim import Adagrad
from .optim_testing import SEEDS, SHAPES, Parameter, Problem, assert_trajectories_close, run


def reference_adagrad(problem, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                      eps=1e-10):
    w = [x.copy() for x in problem.w0]
    squares = [np.full_like(x, initial_accumulator_value) for x in w]
    trajectory = []
    for t in range(problem.steps):
        for k in range(len(w)):
            g = problem.grad(t, k, w[k]) + weight_decay * w[k]
            squares[k] = squares[k] + g ** 2
            decayed_lr = lr / (1 + t * lr_decay)          # t counts from 0 here
            w[k] = w[k] - decayed_lr * g / (np.sqrt(squares[k]) + eps)
        trajectory.append([x.copy() for x in w])
    return trajectory


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, shapes=SHAPES, lr=st.floats(1e-3, 0.5), lr_decay=st.sampled_from([0.0, 0.1]),
       weight_decay=st.sampled_from([0.0, 0.05]), initial=st.sampled_from([0.0, 0.1, 1.0]),
       eps=st.sampled_from([1e-10, 1e-2]))
def test_trajectory_matches_reference_loop(seed, shapes, lr, lr_decay, weight_decay, initial, eps):
    problem = Problem(seed, shapes)
    hyper = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                 initial_accumulator_value=initial, eps=eps)
    got, _, _ = run(lambda ps: Adagrad(ps, **hyper), problem)
    assert_trajectories_close(got, reference_adagrad(problem, **hyper))


def test_constant_gradient_steps_shrink_like_one_over_sqrt_t():
    # G_t = t g^2, so step t moves W by lr * g / (sqrt(t) |g|) = lr / sqrt(t) against sign(g)
    p = Parameter(np.zeros(2))
    opt = Adagrad([p], lr=0.1)
    before = p.data.copy()
    for t in range(1, 6):
        p.grad = np.array([3.0, -0.5])
        opt.step()
        np.testing.assert_allclose(p.data - before, -0.1 / np.sqrt(t) * np.array([1.0, -1.0]),
                                   rtol=1e-9)
        before = p.data.copy()


@pytest.mark.parametrize("hyper, match", [
    (dict(lr=-0.01), "lr"),
    (dict(lr_decay=-0.1), "lr_decay"),
    (dict(weight_decay=-0.1), "weight_decay"),
    (dict(initial_accumulator_value=-1.0), "initial_accumulator_value"),
    (dict(eps=-1e-10), "eps"),
])
def test_invalid_hyperparameters_raise(hyper, match):
    with pytest.raises(ValueError, match=match):
        Adagrad([Parameter(np.zeros(2))], **hyper)
