"""StepLR and CosineAnnealingLR: the lr sequence they write into each group, saving and resuming."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.optim import SGD, Adam
from minidl.optim.lr_scheduler import CosineAnnealingLR, StepLR
from .optim_testing import Parameter

LRS = st.lists(st.floats(1e-4, 1.0), min_size=1, max_size=3)


def optimizer_with_groups(lrs, make=SGD):
    groups = [{"params": [Parameter(np.zeros(2))], "lr": lr} for lr in lrs]
    return make(groups, lr=0.5)


def lr_history(optimizer, scheduler, epochs):
    """The lr of every group used in epochs 0 .. epochs-1, stepping once per epoch."""
    history = []
    for _ in range(epochs):
        history.append([group["lr"] for group in optimizer.param_groups])
        assert scheduler.get_last_lr() == history[-1]
        scheduler.step()
    return history


@settings(max_examples=30, deadline=None)
@given(lrs=LRS, step_size=st.integers(1, 5), gamma=st.floats(0.05, 1.0), epochs=st.integers(1, 20))
def test_step_lr_decays_by_gamma_every_step_size_epochs(lrs, step_size, gamma, epochs):
    opt = optimizer_with_groups(lrs)
    sched = StepLR(opt, step_size=step_size, gamma=gamma)
    expected, current = [], list(lrs)
    for epoch in range(epochs):                       # multiply as epochs go by, not in closed form
        if epoch > 0 and epoch % step_size == 0:
            current = [lr * gamma for lr in current]
        expected.append(list(current))
    np.testing.assert_allclose(lr_history(opt, sched, epochs), expected, rtol=1e-12)
    assert [g["initial_lr"] for g in opt.param_groups] == lrs


@settings(max_examples=30, deadline=None)
@given(lrs=LRS, T_max=st.integers(1, 12), eta_fraction=st.floats(0.0, 0.5),
       epochs=st.integers(1, 30))
def test_cosine_annealing_follows_the_closed_form(lrs, T_max, eta_fraction, epochs):
    eta_min = eta_fraction * min(lrs)
    opt = optimizer_with_groups(lrs)
    sched = CosineAnnealingLR(opt, T_max=T_max, eta_min=eta_min)
    expected = [[eta_min + (lr - eta_min) * (1 + math.cos(math.pi * e / T_max)) / 2 for lr in lrs]
                for e in range(epochs)]
    np.testing.assert_allclose(lr_history(opt, sched, epochs), expected, rtol=1e-12, atol=1e-15)


def test_cosine_annealing_landmarks():
    opt = optimizer_with_groups([0.1, 1.0])
    history = np.array(lr_history(opt, CosineAnnealingLR(opt, T_max=10, eta_min=0.0), 11))
    np.testing.assert_allclose(history[0], [0.1, 1.0])            # starts at the initial lr
    np.testing.assert_allclose(history[5], [0.05, 0.5])           # halfway: half of it
    np.testing.assert_allclose(history[10], [0.0, 0.0], atol=1e-15)  # ends at eta_min
    assert np.all(np.diff(history, axis=0) < 0)                   # always decreasing on the way
    np.testing.assert_allclose(history[:, 1], 10 * history[:, 0])  # the 10x head stays 10x


def test_sgd_steps_with_the_scheduled_lr():
    p = Parameter(np.zeros(3))
    opt = SGD([p], lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    g = np.array([1.0, -2.0, 4.0])
    for epoch in range(4):
        before = p.data.copy()
        p.grad = g.copy()
        opt.step()
        np.testing.assert_allclose(p.data - before, -(0.5 ** epoch) * g)
        sched.step()


@pytest.mark.parametrize("optimizer_first", [True, False])
@pytest.mark.parametrize("make_scheduler", [
    lambda opt: StepLR(opt, step_size=3, gamma=0.5),
    lambda opt: CosineAnnealingLR(opt, T_max=7, eta_min=1e-3),
], ids=["step", "cosine"])
def test_state_dict_round_trip_continues_identically(make_scheduler, optimizer_first):
    lrs = [0.1, 0.01]
    opt = optimizer_with_groups(lrs, make=Adam)
    sched = make_scheduler(opt)
    full = lr_history(opt, sched, 12)

    opt = optimizer_with_groups(lrs, make=Adam)
    sched = make_scheduler(opt)
    lr_history(opt, sched, 5)
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()

    opt2 = optimizer_with_groups([0.7, 0.7], make=Adam)
    if optimizer_first:                               # restores lr and initial_lr of each group
        opt2.load_state_dict(saved_opt)
        sched2 = make_scheduler(opt2)
        sched2.load_state_dict(saved_sched)
    else:
        sched2 = make_scheduler(opt2)
        opt2.load_state_dict(saved_opt)
        sched2.load_state_dict(saved_sched)
    assert sched2.last_epoch == 5 and sched2.base_lrs == lrs
    assert lr_history(opt2, sched2, 7) == full[5:]


def test_a_schedule_state_that_went_through_a_file_resumes():
    # np.savez turns numbers into 0-d arrays and lists into 1-d arrays
    opt = optimizer_with_groups([0.1, 0.3])
    sched = StepLR(opt, step_size=2, gamma=0.5)
    full = lr_history(opt, sched, 6)
    opt = optimizer_with_groups([0.1, 0.3])
    sched = StepLR(opt, step_size=2, gamma=0.5)
    lr_history(opt, sched, 3)
    through_file = {key: np.asarray(value) for key, value in sched.state_dict().items()}
    opt2 = optimizer_with_groups([0.1, 0.3])
    sched2 = StepLR(opt2, step_size=5, gamma=0.9)
    sched2.load_state_dict(through_file)
    assert type(sched2.step_size) is int and type(sched2.gamma) is float
    assert lr_history(opt2, sched2, 3) == full[3:]


def test_resuming_with_last_epoch_needs_initial_lr():
    opt = optimizer_with_groups([0.1])
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(opt, step_size=2, last_epoch=3)
    opt.param_groups[0]["initial_lr"] = 0.1
    sched = StepLR(opt, step_size=2, gamma=0.1, last_epoch=3)
    assert sched.last_epoch == 4
    np.testing.assert_allclose(sched.get_last_lr(), [0.1 * 0.1 ** 2])


def test_a_group_added_after_the_scheduler_is_reported():
    opt = optimizer_with_groups([0.1])
    sched = StepLR(opt, step_size=2)
    opt.add_param_group({"params": [Parameter(np.zeros(2))]})
    with pytest.raises(ValueError, match="2 parameter groups but the schedule was made for 1"):
        sched.step()


def test_load_state_dict_rejects_a_different_layout():
    sched = StepLR(optimizer_with_groups([0.1, 0.2]), step_size=2)
    other = StepLR(optimizer_with_groups([0.1]), step_size=2)
    with pytest.raises(ValueError, match="1 base lrs, the optimizer has 2"):
        sched.load_state_dict(other.state_dict())
    cosine = CosineAnnealingLR(optimizer_with_groups([0.1, 0.2]), T_max=3)
    with pytest.raises(ValueError, match="expected keys"):
        sched.load_state_dict(cosine.state_dict())


@pytest.mark.parametrize("make, error, match", [
    (lambda opt: StepLR(opt, step_size=0), ValueError, "step_size must be a positive int"),
    (lambda opt: StepLR(opt, step_size=2.5), ValueError, "step_size must be a positive int"),
    (lambda opt: StepLR(opt, step_size=2, gamma=-0.1), ValueError, "gamma must be a number > 0"),
    (lambda opt: CosineAnnealingLR(opt, T_max=0), ValueError, "T_max must be a positive int"),
    (lambda opt: CosineAnnealingLR(opt, T_max=5, eta_min=-1.0), ValueError, "eta_min"),
    (lambda opt: StepLR(opt, step_size=2, last_epoch=-2), ValueError, "last_epoch"),
    (lambda opt: StepLR(opt.param_groups, step_size=2), TypeError, "expected an Optimizer"),
])
def test_invalid_arguments_raise(make, error, match):
    with pytest.raises(error, match=match):
        make(optimizer_with_groups([0.1]))
