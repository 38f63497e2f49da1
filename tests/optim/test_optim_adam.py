"""Adam against a NumPy loop of its published algorithm, bias correction included."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.optim import Adam
from .optim_testing import SEEDS, SHAPES, Parameter, Problem, assert_trajectories_close, run


def reference_adam(problem, lr, betas, eps, weight_decay=0.0, amsgrad=False):
    """Adam as PyTorch documents it: the bias corrections folded into the step size and the
    denominator, m / (1 - b1^t) and sqrt(v / (1 - b2^t)) never formed on their own."""
    b1, b2 = betas
    w = [x.copy() for x in problem.w0]
    m = [np.zeros_like(x) for x in w]
    v = [np.zeros_like(x) for x in w]
    v_max = [np.zeros_like(x) for x in w]
    trajectory = []
    for t in range(1, problem.steps + 1):
        for k in range(len(w)):
            g = problem.grad(t - 1, k, w[k]) + weight_decay * w[k]
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g ** 2
            v_max[k] = np.maximum(v_max[k], v[k])
            second = v_max[k] if amsgrad else v[k]
            step_size = lr / (1 - b1 ** t)
            denom = np.sqrt(second) / np.sqrt(1 - b2 ** t) + eps
            w[k] = w[k] - step_size * m[k] / denom
        trajectory.append([x.copy() for x in w])
    return trajectory


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, shapes=SHAPES, lr=st.floats(1e-4, 0.1),
       betas=st.tuples(st.sampled_from([0.0, 0.5, 0.9]), st.sampled_from([0.9, 0.99, 0.999])),
       eps=st.sampled_from([1e-8, 1e-3, 0.1]), weight_decay=st.sampled_from([0.0, 0.01, 0.3]),
       amsgrad=st.booleans())
def test_trajectory_matches_reference_loop(seed, shapes, lr, betas, eps, weight_decay, amsgrad):
    problem = Problem(seed, shapes)
    hyper = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
    got, _, _ = run(lambda ps: Adam(ps, **hyper), problem)
    assert_trajectories_close(got, reference_adam(problem, **hyper))


def test_bias_correction_makes_the_first_step_lr_times_the_sign():
    # m_hat = g and v_hat = g^2 after one step, so W moves by lr * g / (|g| + eps): about lr
    # whatever the gradient's size (without the correction it would be ~3.16 lr with the defaults)
    g = np.array([1e-3, -5.0, 200.0, -0.02])
    p = Parameter(np.zeros(4))
    p.grad = g.copy()
    Adam([p], lr=0.01).step()
    np.testing.assert_allclose(p.data, -0.01 * np.sign(g), rtol=1e-4)


def test_state_holds_step_count_and_moments():
    p = Parameter(np.zeros(3))
    opt = Adam([p], lr=0.01, betas=(0.5, 0.75))
    grads = [np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.0, 1.0])]
    for g in grads:
        p.grad = g.copy()
        opt.step()
    state = opt.state[p]
    assert state["step"] == 2
    np.testing.assert_allclose(state["exp_avg"], 0.5 * (0.5 * grads[0]) + 0.5 * grads[1])
    np.testing.assert_allclose(state["exp_avg_sq"], 0.75 * (0.25 * grads[0] ** 2) + 0.25 * grads[1] ** 2)


@pytest.mark.parametrize("hyper, error, match", [
    (dict(lr=-1e-3), ValueError, "lr"),
    (dict(eps=-1e-8), ValueError, "eps"),
    (dict(betas=(1.0, 0.999)), ValueError, "beta1"),
    (dict(betas=(0.9, -0.1)), ValueError, "beta2"),
    (dict(betas=0.9), ValueError, "betas must be a pair"),
    (dict(weight_decay=-0.1), ValueError, "weight_decay"),
    (dict(eps=None), TypeError, "eps must be a real number"),
])
def test_invalid_hyperparameters_raise(hyper, error, match):
    with pytest.raises(error, match=match):
        Adam([Parameter(np.zeros(2))], **hyper)
