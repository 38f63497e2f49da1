"""SGD against the lecture's rule and a NumPy loop of PyTorch's momentum/Nesterov formulas."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.optim import SGD
from .optim_testing import SEEDS, SHAPES, Parameter, Problem, assert_trajectories_close, run


def reference_sgd(problem, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """SGD written out for plain arrays, one weight list per step."""
    w = [x.copy() for x in problem.w0]
    velocity = [None] * len(w)
    trajectory = []
    for t in range(problem.steps):
        for k in range(len(w)):
            g = problem.grad(t, k, w[k]) + weight_decay * w[k]
            if momentum == 0:
                direction = g
            else:
                if t == 0:
                    velocity[k] = g
                else:
                    velocity[k] = momentum * velocity[k] + (1 - dampening) * g
                direction = g + momentum * velocity[k] if nesterov else velocity[k]
            w[k] = w[k] - lr * direction
        trajectory.append([x.copy() for x in w])
    return trajectory


def test_plain_sgd_is_the_lecture_rule():
    # W = W - alpha * dL/dW, exactly, for one step
    w0 = np.array([[0.5, -1.0], [2.0, 0.25]])
    g = np.array([[0.1, 0.2], [-0.3, 4.0]])
    p = Parameter(w0.copy())
    p.grad = g.copy()
    SGD([p], lr=0.5).step()
    np.testing.assert_array_equal(p.data, w0 - 0.5 * g)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, shapes=SHAPES, lr=st.floats(1e-3, 0.5),
       momentum=st.sampled_from([0.0, 0.5, 0.9]), dampening=st.sampled_from([0.0, 0.3]),
       weight_decay=st.sampled_from([0.0, 0.01, 0.1]), nesterov=st.booleans())
def test_trajectory_matches_reference_loop(seed, shapes, lr, momentum, dampening, weight_decay,
                                           nesterov):
    if nesterov and (momentum == 0 or dampening != 0):
        nesterov = False
    problem = Problem(seed, shapes)
    hyper = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                 nesterov=nesterov)
    got, _, _ = run(lambda ps: SGD(ps, **hyper), problem)
    assert_trajectories_close(got, reference_sgd(problem, **hyper))


@pytest.mark.parametrize("momentum", [0.5, 0.9])
def test_momentum_on_a_constant_gradient_matches_the_geometric_series(momentum):
    # with g fixed, the velocity after t steps is g * (1 + mu + ... + mu^(t-1)) = g (1 - mu^t) / (1 - mu)
    g = np.array([1.0, -2.0, 0.5])
    p = Parameter(np.zeros(3))
    opt = SGD([p], lr=0.1, momentum=momentum)
    steps = 8
    for _ in range(steps):
        p.grad = g.copy()
        opt.step()
    total = sum((1 - momentum ** t) / (1 - momentum) for t in range(1, steps + 1))
    np.testing.assert_allclose(p.data, -0.1 * g * total, rtol=1e-12)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_a_group_with_ten_times_the_lr_moves_ten_times_as_far(momentum):
    # transfer learning: copied layers at lr, the new head at 10 * lr (lecture 000, approach 2)
    rng = np.random.default_rng(0)
    body, head = Parameter(rng.standard_normal((3, 4))), Parameter(rng.standard_normal((3, 4)))
    body0, head0 = body.data.copy(), head.data.copy()
    opt = SGD([{"params": [body]}, {"params": [head], "lr": 0.1}], lr=0.01, momentum=momentum)
    for _ in range(4):
        g = rng.standard_normal((3, 4))
        body.grad, head.grad = g.copy(), g.copy()
        opt.step()
    np.testing.assert_allclose(head.data - head0, 10 * (body.data - body0), rtol=1e-10)
    assert np.abs(body.data - body0).max() > 0


def test_weight_decay_shrinks_a_weight_with_zero_gradient():
    # dL/dW = 0, so only the L2 term acts: W = (1 - lr * wd) W each step
    p = Parameter(np.array([2.0, -4.0]))
    opt = SGD([p], lr=0.1, weight_decay=0.5)
    for _ in range(3):
        p.grad = np.zeros(2)
        opt.step()
    np.testing.assert_allclose(p.data, np.array([2.0, -4.0]) * 0.95 ** 3, rtol=1e-12)


@pytest.mark.parametrize("hyper, match", [
    (dict(lr=-0.1), "lr"),
    (dict(lr=0.1, momentum=-0.5), "momentum"),
    (dict(lr=0.1, weight_decay=-1e-4), "weight_decay"),
    (dict(lr=0.1, dampening=1.5), "dampening"),
    (dict(lr=0.1, nesterov=True), "nesterov"),
    (dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (dict(lr=float("nan")), "lr"),
])
def test_invalid_hyperparameters_raise(hyper, match):
    with pytest.raises(ValueError, match=match):
        SGD([Parameter(np.zeros(2))], **hyper)


def test_lr_is_required_and_must_be_a_number():
    with pytest.raises(TypeError):
        SGD([Parameter(np.zeros(2))])
    with pytest.raises(TypeError, match="lr must be a real number"):
        SGD([Parameter(np.zeros(2))], lr="0.1")
