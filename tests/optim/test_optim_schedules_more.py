"""MultiStepLR, ExponentialLR, LinearLR, OneCycleLR and AdamW against their closed forms
(PyTorch's definitions), on several parameter groups, stepped per epoch or per iteration."""
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minidl import nn, optim
from minidl.data import DataLoader
from minidl.optim import SGD, Adam, AdamW
from minidl.optim.lr_scheduler import ExponentialLR, LinearLR, MultiStepLR, OneCycleLR
from minidl.train import fit
from .optim_testing import Parameter
from .test_optim_lr_scheduler import LRS, lr_history, optimizer_with_groups


@settings(max_examples=25, deadline=None)
@given(lrs=LRS, milestones=st.lists(st.integers(0, 12), min_size=1, max_size=4),
       gamma=st.floats(0.05, 1.0), epochs=st.integers(1, 15))
def test_multistep_lr_counts_the_milestones_passed(lrs, milestones, gamma, epochs):
    opt = optimizer_with_groups(lrs)
    history = lr_history(opt, MultiStepLR(opt, milestones, gamma), epochs)
    for epoch, row in enumerate(history):
        passed = sum(m <= epoch for m in milestones)      # a repeated milestone counts twice
        assert row == pytest.approx([lr * gamma ** passed for lr in lrs], rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(lrs=LRS, gamma=st.floats(0.1, 1.0), epochs=st.integers(1, 15))
def test_exponential_lr(lrs, gamma, epochs):
    opt = optimizer_with_groups(lrs)
    history = lr_history(opt, ExponentialLR(opt, gamma), epochs)
    assert history == [pytest.approx([lr * gamma ** e for lr in lrs], rel=1e-12) for e in range(epochs)]


@settings(max_examples=20, deadline=None)
@given(lrs=LRS, start=st.floats(0.01, 1.0), end=st.floats(0.0, 1.0), total=st.integers(1, 8))
def test_linear_lr_warms_up_then_holds(lrs, start, end, total):
    opt = optimizer_with_groups(lrs)
    history = lr_history(opt, LinearLR(opt, start, end, total), total + 4)
    for epoch, row in enumerate(history):
        factor = start + (end - start) * min(epoch, total) / total
        assert row == pytest.approx([lr * factor for lr in lrs], rel=1e-9, abs=1e-15)


def test_linear_lr_default_is_a_third_to_full_over_five_steps():
    opt = optimizer_with_groups([0.3])
    history = [row[0] for row in lr_history(opt, LinearLR(opt), 7)]
    assert history == pytest.approx([0.1, 0.14, 0.18, 0.22, 0.26, 0.3, 0.3])


def one_cycle_by_formula(step, total, max_lr, pct=0.3, div=25.0, final_div=1e4):
    """(lr, momentum) of the two-phase cos 1cycle: the lr up from max/div over pct*total - 1
    steps then down to max/div/final_div, the momentum from 0.95 down to 0.85 and back."""
    up = pct * total - 1
    lo, hi, end = max_lr / div, max_lr, max_lr / div / final_div
    cos = lambda a, b, t: b + (a - b) * (1 + math.cos(math.pi * t)) / 2  # noqa: E731
    if step <= up:
        return cos(lo, hi, step / up), cos(0.95, 0.85, step / up)
    t = (step - up) / (total - 1 - up)
    return cos(hi, end, t), cos(0.85, 0.95, t)


@settings(max_examples=20, deadline=None)
@given(total=st.integers(5, 40), max_lr=st.floats(0.01, 2.0), pct=st.floats(0.2, 0.5))
def test_one_cycle_follows_its_two_cosines_and_moves_momentum_the_other_way(total, max_lr, pct):
    assume(pct * total - 1 >= 1)    # a warm-up of at least one step (PyTorch divides by it too)
    opt = SGD([Parameter(np.zeros(2))], lr=123.0, momentum=0.9)   # lr and momentum are replaced
    sched = OneCycleLR(opt, max_lr=max_lr, total_steps=total, pct_start=pct)
    lrs, momenta = [], []
    for step in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        momenta.append(opt.param_groups[0]["momentum"])
        if step < total - 1:
            sched.step()
    expected = [one_cycle_by_formula(s, total, max_lr, pct) for s in range(total)]
    assert lrs == pytest.approx([lr for lr, _ in expected], rel=1e-9)
    assert momenta == pytest.approx([m for _, m in expected], rel=1e-12)
    assert lrs[0] == pytest.approx(max_lr / 25) and lrs[-1] == pytest.approx(max_lr / 25 / 1e4)
    assert max(lrs) <= max_lr * (1 + 1e-12)
    assert momenta[0] == pytest.approx(0.95) and momenta[-1] == pytest.approx(0.95)
    # the lowest momentum at the lr's peak; when the peak (pct * total - 1) falls between two
    # steps, the two phases reach their neighbours at different rates, so the two may sit a step apart
    assert abs(int(np.argmax(lrs)) - int(np.argmin(momenta))) <= (0 if (pct * total) % 1 == 0 else 1)
    sched.step()                    # PyTorch allows one step past the end (fit's last batch) ...
    with pytest.raises(ValueError, match="more than total_steps"):
        sched.step()                # ... and refuses the next


def test_one_cycle_three_phase_linear_and_adam_beta1():
    opt = Adam([Parameter(np.zeros(1))], lr=1.0)
    sched = OneCycleLR(opt, max_lr=1.0, epochs=2, steps_per_epoch=5, pct_start=0.3,
                       anneal_strategy="linear", three_phase=True)
    lrs, betas = [], []
    for step in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        betas.append(opt.param_groups[0]["betas"])
        if step < 9:
            sched.step()
    # phases end at steps 2 (up to 1.0), 4 (back to 0.04) and 9 (down to 4e-6), linearly
    assert lrs == pytest.approx([0.04, 0.52, 1.0, 0.52, 0.04] +
                                [0.04 - t * (0.04 - 4e-6) for t in (0.2, 0.4, 0.6, 0.8, 1.0)], rel=1e-9)
    assert [b[0] for b in betas[:5]] == pytest.approx([0.95, 0.9, 0.85, 0.9, 0.95])
    assert all(b[1] == 0.999 for b in betas)


def test_one_cycle_argument_errors():
    with pytest.raises(ValueError, match="total_steps, or epochs and steps_per_epoch"):
        OneCycleLR(SGD([Parameter(np.zeros(1))], lr=0.1, momentum=0.9), max_lr=1.0)
    with pytest.raises(ValueError, match="2 max_lr values for 1 parameter groups"):
        OneCycleLR(SGD([Parameter(np.zeros(1))], lr=0.1), max_lr=[1.0, 2.0], total_steps=5)
    with pytest.raises(ValueError, match="needs an optimizer with momentum or betas"):
        OneCycleLR(optim.Adagrad([Parameter(np.zeros(1))], lr=0.1), max_lr=1.0, total_steps=5)


def test_one_cycle_steps_per_iteration_inside_fit():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype(np.float32), rng.integers(0, 2, 32)
    model = nn.Linear(4, 2)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = OneCycleLR(opt, max_lr=0.5, epochs=2, steps_per_epoch=4, cycle_momentum=False)
    fit(model, opt, DataLoader(x, y, batch_size=8), epochs=2, scheduler=sched,
        scheduler_interval="step", progress=False)
    assert sched.last_epoch == 8 - 1 + 1      # created at step 0, then stepped after 8 batches


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), wd=st.floats(0.0, 0.5), amsgrad=st.booleans())
def test_adamw_decays_the_weights_apart_from_the_gradient(seed, wd, amsgrad):
    """W <- W (1 - lr wd), then Adam on the plain gradient (m, v, bias correction)."""
    rng = np.random.default_rng(seed)
    w0, grads = rng.normal(size=3), rng.normal(size=(6, 3))
    lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8
    p = Parameter(w0.copy())
    opt = AdamW([p], lr=lr, weight_decay=wd, amsgrad=amsgrad)
    w, m, v, vmax = w0.copy(), np.zeros(3), np.zeros(3), np.zeros(3)
    for t, g in enumerate(grads, start=1):
        p.grad = g
        opt.step()
        w = w * (1 - lr * wd)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt((vmax if amsgrad else v) / (1 - b2 ** t)) + eps)
        np.testing.assert_allclose(p.data, w, rtol=1e-12, atol=1e-14)


def test_adamw_default_decay_differs_from_adam_l2():
    assert AdamW([Parameter(np.zeros(1))]).defaults["weight_decay"] == 0.01
    p, q = Parameter(np.array([1.0])), Parameter(np.array([1.0]))
    for param, opt in ((p, AdamW([p], lr=0.1, weight_decay=0.5)), (q, Adam([q], lr=0.1, weight_decay=0.5))):
        param.grad = np.array([0.0])
        opt.step()
    assert p.data[0] == pytest.approx(0.95)              # shrunk by lr * wd
    assert q.data[0] == pytest.approx(0.9, rel=1e-6)     # L2 gradient 0.5, Adam's first step is lr
