"""The lesson runs a check ends with: the student's version trained in a short lesson-like run.

``cnn_learns(overrides)`` trains the lab's digits CNN (lesson 6 on the 8x8 digits) for one epoch
with the student's functions in place of minidl's ops (``Op.override``, plain NumPy kernels
forced), and fails unless it learns: the test accuracy must reach ``MIN_ACCURACY`` (chance is
10%). ``sine_fit`` is lesson 1's fit of sin(x) with the lecture's update rule.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .. import manual_seed, optim
from ..data import DataLoader
from ..data.datasets import digits
from ..data.prepare import prepare
from ..models.lab6 import digits_cnn
from ..optim.optimizer import Optimizer
from ..train.loop import evaluate, train_epoch
from .core import CheckFailed
from .engine import in_engine

TRAIN_IMAGES, MIN_ACCURACY = 640, 0.7


@functools.lru_cache(maxsize=1)
def digit_splits():
    """(x_train, y_train, x_test, y_test): the digits, normalised with the training statistics."""
    data = prepare(digits("train"), digits("test"))
    return (*data.train, *data.test)


def train_digits(model_fn=digits_cnn, make_optimizer=None, overrides=()) -> tuple[float, list[float]]:
    """(test accuracy, batch losses) of one epoch on TRAIN_IMAGES digits with ``overrides``
    ((op, function) pairs) in place, the reference kernels forced; seeded, so repeatable."""
    x, y, xt, yt = digit_splits()
    manual_seed(0)
    model = model_fn()
    opt = (make_optimizer or (lambda p: optim.Adam(p, lr=0.01)))(list(model.parameters()))
    with in_engine(overrides):
        record = train_epoch(model, opt, DataLoader(x[:TRAIN_IMAGES], y[:TRAIN_IMAGES], 32, shuffle=True, seed=0))
        accuracy = evaluate(model, DataLoader(xt, yt, 128))["accuracy"] if record["stop_reason"] is None else 0.0
    return accuracy, record["batch_losses"]


@functools.lru_cache(maxsize=2)
def minidl_accuracy(model_fn=digits_cnn) -> float:
    return train_digits(model_fn)[0]


def cnn_learns(overrides, what: str, model_fn=digits_cnn, make_optimizer=None) -> None:
    """Fail unless the digits CNN still learns with ``overrides`` in place."""
    try:
        accuracy, losses = train_digits(model_fn, make_optimizer, overrides)
    except CheckFailed as err:
        raise CheckFailed(f"during the lesson run (the digits CNN, one epoch): {err.message}", err.hint) from None
    if accuracy >= MIN_ACCURACY:
        return
    first, last = np.mean(losses[:3]), np.mean(losses[-3:]) if losses else math.nan
    raise CheckFailed(f"the lab's digits CNN trained one epoch on {TRAIN_IMAGES} images with your {what} "
                      f"reaches test accuracy {accuracy:.1%} (it needs {MIN_ACCURACY:.0%}; minidl's own "
                      f"{minidl_accuracy(model_fn):.1%}; chance 10%); training loss {first:.3g} -> {last:.3g}",
                      "here your function runs inside the whole engine on float32 batches: if the other "
                      "checks pass, look at the dtype you return and at inputs changed in place")


class StepOptimizer(Optimizer):
    """An Optimizer whose rule is a function ``step(p.data, grad, state: dict, group) -> new data``
    (how the student's optimizer steps are tried on a real model)."""

    def __init__(self, params, step, **defaults):
        super().__init__(params, {"lr": defaults.pop("lr"), **defaults})
        self.step_fn = step

    def _update(self, p, grad, group: dict) -> None:
        p.data[...] = self.step_fn(p.data, grad, self.state.setdefault(p, {}), group)


def sine_data(n: int = 100, seed: int = 0):
    """Lesson 1's regression problem: X (2, n) = (x, 1), Y (1, n) = sin(x) + noise, and the
    initial W1 (2, 16), W2 (16, 1)."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-3, 3, n))
    X, Y = np.stack([x, np.ones(n)]), (np.sin(x) + 0.1 * rng.standard_normal(n))[None, :]
    return X, Y, 0.8 * rng.standard_normal((2, 16)), 0.3 * rng.standard_normal((16, 1))
