"""optim.SAM against the rule written out by hand, in float64 (rtol 1e-12), on a loss whose
gradient is known in closed form: L = sum(a * W^3) / 3 + sum(b * W), dL/dW = a W^2 + b, so the
gradient at the perturbed weights differs from the one at W."""
import numpy as np
import pytest

from minidl import Tensor, nn, optim
from minidl import functional as F
from minidl.train.loop import train_step


def cubic(w, a, b):
    return ((w * w * w) * Tensor(a)).sum() / 3 + (w * Tensor(b)).sum()


@pytest.mark.parametrize("rho", [0.0, 0.05, 0.5])
@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 1e-2)])
def test_sam_steps_from_w_with_the_gradient_at_the_worst_point_of_the_ball(rho, momentum, weight_decay):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4))
    w0 = rng.standard_normal((3, 4))
    w = Tensor(w0.copy(), requires_grad=True)
    opt = optim.SAM(optim.SGD([w], lr=0.1, momentum=momentum, weight_decay=weight_decay), rho=rho)
    expected, buf = w0.copy(), None
    for _ in range(3):
        g = a * expected ** 2 + b
        e = rho * g / np.sqrt((g * g).sum())
        g_adv = a * (expected + e) ** 2 + b + weight_decay * expected
        buf = g_adv if buf is None else momentum * buf + g_adv
        expected = expected - 0.1 * (buf if momentum else g_adv)

        opt.zero_grad()
        cubic(w, a, b).backward()
        opt.step(lambda: cubic(w, a, b).backward())
    np.testing.assert_allclose(w.data, expected, rtol=1e-12, atol=1e-12)


def test_sam_shares_the_groups_and_state_of_the_optimizer_it_wraps():
    w = Tensor(np.ones(3), requires_grad=True)
    base = optim.SGD([w], lr=0.1, momentum=0.9)
    opt = optim.SAM(base, rho=0.1)
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    w.grad = np.ones(3)
    opt.step(lambda: setattr(w, "grad", np.ones(3)))
    scheduler.step()
    assert base.param_groups[0]["lr"] == pytest.approx(0.05)
    assert set(opt.state_dict()["state"][0]) == {"momentum_buffer"}


def test_a_zero_gradient_perturbs_nothing():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    seen = []
    opt = optim.SAM(optim.SGD([w], lr=0.1), rho=0.5)
    w.grad = np.zeros(2)
    opt.step(lambda: (seen.append(w.data.copy()), setattr(w, "grad", np.zeros(2))))
    np.testing.assert_array_equal(seen[0], [1.0, 2.0])
    np.testing.assert_array_equal(w.data, [1.0, 2.0])


def test_step_without_a_closure_and_a_bad_base_are_refused():
    w = Tensor(np.ones(2), requires_grad=True)
    opt = optim.SAM(optim.SGD([w], lr=0.1))
    w.grad = np.ones(2)
    with pytest.raises(ValueError, match="SAM.step needs a closure"):
        opt.step()
    with pytest.raises(TypeError, match="SAM: base must be an optimizer"):
        optim.SAM([w])
    with pytest.raises(ValueError, match="SAM: invalid rho -1"):
        optim.SAM(optim.SGD([w], lr=0.1), rho=-1)


def test_train_step_gives_sam_its_closure_and_the_step_matches_a_hand_written_one():
    """Two models with the same weights: train_step with SAM, and the SAM step written out."""
    rng = np.random.default_rng(1)
    x, y = Tensor(rng.standard_normal((8, 5)).astype(np.float32)), Tensor(rng.integers(0, 3, 8))
    models = [nn.Linear(5, 3), nn.Linear(5, 3)]
    models[1].load_state_dict(models[0].state_dict())
    train_step(models[0], optim.SAM(optim.SGD(models[0].parameters(), lr=0.5), rho=0.2), x, y)

    params = list(models[1].parameters())
    F.cross_entropy(models[1](x), y).backward()
    g = [p.grad.copy() for p in params]
    norm = np.sqrt(sum((gi ** 2).sum() for gi in g))
    for p, gi in zip(params, g):
        p.data += 0.2 * gi / norm
        p.grad = None
    F.cross_entropy(models[1](x), y).backward()
    for p, gi in zip(params, g):
        p.data -= 0.2 * gi / norm
        p.data -= 0.5 * p.grad
    for p, q in zip(models[0].parameters(), params):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-6, atol=1e-7)


def test_a_group_added_to_sam_joins_the_wrapped_optimizer_under_its_rules():
    w, v = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
    opt = optim.SAM(optim.SGD([w], lr=0.1, momentum=0.9))
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        opt.add_param_group({"params": [v], "nesterov": True, "momentum": 0.0})
    opt.add_param_group({"params": [v], "lr": 0.01})
    assert opt.base.param_groups[1]["lr"] == 0.01 and opt.base.param_groups[1]["momentum"] == 0.9
