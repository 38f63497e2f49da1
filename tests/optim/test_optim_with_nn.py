"""Optimizers driving real layers: model.parameters() in, lower loss out, frozen layers unchanged."""
import numpy as np
import pytest

import minidl
from minidl import nn, optim
from minidl.optim.lr_scheduler import CosineAnnealingLR

OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
    "adam": lambda ps: optim.Adam(ps, lr=0.05),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.5),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.02),
}


def regression_data(seed=0, n=64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    w = np.array([[1.5], [-2.0], [0.5], [1.0]], np.float32)
    return minidl.tensor(x), minidl.tensor(x @ w + 0.3)


def train(model, opt, x, y, steps, scheduler=None):
    loss_fn = nn.MSELoss()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("make", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_each_optimizer_fits_a_linear_model(make):
    minidl.manual_seed(0)
    model = nn.Linear(4, 1)
    x, y = regression_data()
    losses = train(model, make(model.parameters()), x, y, steps=150)
    assert losses[-1] < 0.05 * losses[0], f"loss {losses[0]:.4f} -> {losses[-1]:.4f}"
    assert model.weight.data.dtype == np.float32


def test_fine_tuning_a_head_on_a_frozen_body():
    # lecture 000, approach 1: freeze the copied layers, train only the new head
    minidl.manual_seed(1)
    body, head = nn.Linear(4, 8), nn.Linear(8, 1)
    model = nn.Sequential(body, nn.ReLU(), head)
    for p in body.parameters():
        p.requires_grad = False
    frozen = [p.data.copy() for p in body.parameters()]
    head_before = head.weight.data.copy()
    opt = optim.Adam(model.parameters(), lr=0.02)
    x, y = regression_data(seed=1)
    losses = train(model, opt, x, y, steps=60, scheduler=CosineAnnealingLR(opt, T_max=60))
    for p, before in zip(body.parameters(), frozen):
        np.testing.assert_array_equal(p.data, before)
        assert p not in opt.state
    assert not np.array_equal(head.weight.data, head_before)
    assert losses[-1] < losses[0]


def test_per_layer_learning_rates_on_a_model():
    # lecture 000, approach 2: copied layers at lr, the new head at 10 * lr; with plain SGD each
    # step moves the head exactly lr_head * its gradient
    minidl.manual_seed(2)
    body, head = nn.Linear(4, 8), nn.Linear(8, 1)
    model = nn.Sequential(body, nn.ReLU(), head)
    opt = optim.SGD([{"params": body.parameters()}, {"params": head.parameters(), "lr": 0.1}],
                    lr=0.01)
    x, y = regression_data(seed=2)
    opt.zero_grad()
    nn.MSELoss()(model(x), y).backward()
    expected = {id(p): p.data - lr * p.grad
                for lr, layer in ((0.01, body), (0.1, head)) for p in layer.parameters()}
    opt.step()
    for p in model.parameters():
        np.testing.assert_allclose(p.data, expected[id(p)], rtol=1e-6, atol=1e-7)
