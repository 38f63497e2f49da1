"""RMSprop against a NumPy loop of its textbook update (plain, centered, with momentum)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.optim import RMSprop
from .optim_testing import SEEDS, SHAPES, Parameter, Problem, assert_trajectories_close, run


def reference_rmsprop(problem, lr, alpha, eps, weight_decay=0.0, momentum=0.0, centered=False):
    w = [x.copy() for x in problem.w0]
    mean_square = [np.zeros_like(x) for x in w]
    mean = [np.zeros_like(x) for x in w]
    velocity = [np.zeros_like(x) for x in w]
    trajectory = []
    for t in range(problem.steps):
        for k in range(len(w)):
            g = problem.grad(t, k, w[k]) + weight_decay * w[k]
            mean_square[k] = alpha * mean_square[k] + (1 - alpha) * g ** 2
            mean[k] = alpha * mean[k] + (1 - alpha) * g
            variance = mean_square[k] - mean[k] ** 2 if centered else mean_square[k]
            scaled = g / (np.sqrt(variance) + eps)
            if momentum > 0:
                velocity[k] = momentum * velocity[k] + scaled
                w[k] = w[k] - lr * velocity[k]
            else:
                w[k] = w[k] - lr * scaled
        trajectory.append([x.copy() for x in w])
    return trajectory


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, shapes=SHAPES, lr=st.floats(1e-4, 0.05), alpha=st.sampled_from([0.5, 0.9, 0.99]),
       eps=st.sampled_from([1e-8, 1e-2]), weight_decay=st.sampled_from([0.0, 0.05]),
       momentum=st.sampled_from([0.0, 0.9]), centered=st.booleans())
def test_trajectory_matches_reference_loop(seed, shapes, lr, alpha, eps, weight_decay, momentum,
                                           centered):
    problem = Problem(seed, shapes)
    hyper = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                 centered=centered)
    got, _, _ = run(lambda ps: RMSprop(ps, **hyper), problem)
    # the centered variance v - a^2 loses digits when the gradient barely changes
    assert_trajectories_close(got, reference_rmsprop(problem, **hyper), rtol=1e-8, atol=1e-10)


def test_first_step_divides_by_the_root_mean_square():
    # v = (1 - alpha) g^2 after one step, so W moves by lr * g / (sqrt(1 - alpha) |g| + eps)
    g = np.array([4.0, -0.25])
    p = Parameter(np.zeros(2))
    p.grad = g.copy()
    RMSprop([p], lr=0.01, alpha=0.75, eps=0.0).step()
    np.testing.assert_allclose(p.data, -0.01 * np.sign(g) / 0.5, rtol=1e-12)


@pytest.mark.parametrize("hyper, match", [
    (dict(lr=-0.01), "lr"),
    (dict(alpha=-0.5), "alpha"),
    (dict(alpha=1.5), "alpha"),
    (dict(eps=-1e-8), "eps"),
    (dict(momentum=-0.9), "momentum"),
    (dict(weight_decay=-0.1), "weight_decay"),
])
def test_invalid_hyperparameters_raise(hyper, match):
    with pytest.raises(ValueError, match=match):
        RMSprop([Parameter(np.zeros(2))], **hyper)
