"""fit is train_epoch over epochs, train_epoch is train_step over batches (bit for bit), and
schedules step per epoch or per iteration with the lrs of their closed forms."""
import math

import numpy as np
import pytest

import minidl
from minidl import Tensor, optim
from minidl import functional as F
from minidl.data import DataLoader
from minidl.models.mlp import mlp
from minidl.train import TrainingDiverged, evaluate, fit, train_epoch, train_step


def problem(seed=0):
    """A small 3-class problem, a model, SGD with momentum and its two loaders."""
    minidl.manual_seed(seed)
    rng = np.random.default_rng(seed)
    centres = np.array([[4.0, 0.0], [-2.0, 3.5], [-2.0, -3.5]])
    y = rng.integers(0, 3, 200)
    x = (centres[y] + rng.normal(scale=1.5, size=(200, 2))).astype(np.float32)
    model = mlp(2, (8,), 3)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    return model, opt, DataLoader(x[:150], y[:150], 32, shuffle=True, seed=seed), \
        DataLoader(x[150:], y[150:], 25)


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


class LrSpy(optim.SGD):
    """SGD that records group 0's lr at every step."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lrs = []

    def step(self):
        self.lrs.append(self.param_groups[0]["lr"])
        super().step()


def test_train_epoch_is_train_step_over_the_batches():
    model_a, opt_a, train_a, _ = problem()
    model_b, opt_b, train_b, _ = problem()
    result = train_epoch(model_a, opt_a, train_a)
    model_b.train()
    losses, total = [], 0.0
    for x, y in train_b:
        _, value = train_step(model_b, opt_b, Tensor(x), Tensor(y))
        losses.append(value)
        total += value * len(y)
    assert_same_weights(model_a, model_b)
    assert result["batch_losses"] == losses and len(losses) == len(train_a)
    assert result["loss"] == total / 150 and result["num_samples"] == 150
    assert 0 < result["accuracy"] <= 1 and result["stop_reason"] is None


def test_fit_is_train_epoch_evaluate_and_a_scheduler_step_per_epoch():
    model_a, opt_a, train_a, val_a = problem()
    sched_a = optim.lr_scheduler.StepLR(opt_a, step_size=1, gamma=0.7)
    history = fit(model_a, opt_a, train_a, val_a, epochs=3, scheduler=sched_a, progress=False)

    model_b, opt_b, train_b, val_b = problem()
    sched_b = optim.lr_scheduler.StepLR(opt_b, step_size=1, gamma=0.7)
    losses, val_losses = [], []
    for _ in range(3):
        losses += train_epoch(model_b, opt_b, train_b)["batch_losses"]
        val_losses.append(evaluate(model_b, val_b)["loss"])
        sched_b.step()
    assert_same_weights(model_a, model_b)
    assert history.iteration_loss == losses and history.val_loss == val_losses
    assert history.lr == [0.05, 0.05 * 0.7, 0.05 * 0.7 * 0.7]


def test_a_per_step_cosine_gives_the_hand_written_lr_of_every_iteration():
    minidl.manual_seed(0)
    model, _, train, _ = problem()
    opt = LrSpy([{"params": list(model.parameters()), "lr": 0.1}], lr=0.1, momentum=0.9)
    total = 3 * len(train)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    history = fit(model, opt, train, epochs=3, scheduler=sched, scheduler_interval="step",
                  progress=False)
    # the formula a hand-made loop sets before step t (benchmarks/transfer_modes.py did so)
    expected = [0.1 * 0.5 * (1 + math.cos(math.pi * t / total)) for t in range(total)]
    assert opt.lrs == expected                                  # exactly, not approximately
    assert history.lr == [expected[0], expected[len(train)], expected[2 * len(train)]]
    assert sched.last_epoch == total


def test_a_per_step_schedule_trains_like_the_hand_written_loop():
    model_a, opt_a, train_a, _ = problem()
    total = 2 * len(train_a)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt_a, T_max=total)
    fit(model_a, opt_a, train_a, epochs=2, scheduler=sched, scheduler_interval="step",
        progress=False)
    model_b, opt_b, train_b, _ = problem()
    model_b.train()
    step = 0
    for _ in range(2):
        for x, y in train_b:
            opt_b.param_groups[0]["lr"] = 0.05 * 0.5 * (1 + math.cos(math.pi * step / total))
            opt_b.zero_grad()
            F.cross_entropy(model_b(Tensor(x)), Tensor(y)).backward()
            opt_b.step()
            step += 1
    assert_same_weights(model_a, model_b)


def test_fit_refuses_an_unknown_scheduler_interval():
    model, opt, train, _ = problem()
    sched = optim.lr_scheduler.StepLR(opt, step_size=1)
    with pytest.raises(ValueError, match="scheduler_interval must be one of"):
        fit(model, opt, train, scheduler=sched, scheduler_interval="batch", progress=False)


def test_train_step_stops_before_any_update_when_the_outputs_blow_up():
    model, opt, train, _ = problem()
    x, y = next(iter(train))
    before = model.state_dict()
    bad = np.full_like(x, np.inf)
    with np.errstate(invalid="ignore", over="ignore"):
        with pytest.raises(TrainingDiverged, match="outputs became NaN or infinite"):
            train_step(model, opt, Tensor(bad), Tensor(y))
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert all(p.grad is None or not np.any(p.grad) for p in model.parameters())
