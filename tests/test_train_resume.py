"""fit(..., resume=checkpoint): a run stopped after any epoch and resumed in a fresh process
state (new model, optimizer, schedule, loader, callbacks) ends with the very parameters and
History of the run that was never interrupted."""
import numpy as np
import pytest

import minidl
from minidl import nn, optim
from minidl.data import DataLoader
from minidl.train import BestWeights, Callback, EarlyStopping, fit


def blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = np.array([[3.0, 0.0], [-2.0, 3.0], [-2.0, -3.0]])[y] + rng.normal(scale=0.8, size=(n, 2))
    return x.astype(np.float32), y.astype(np.int64)


class Interrupt(Callback):
    """Ctrl-C at the end of epoch `at` (before fit writes that epoch's checkpoint); None: never."""

    def __init__(self, at):
        self.at = at

    def on_epoch_end(self, state):
        if state.last["epoch"] == self.at:
            raise KeyboardInterrupt


def jitter(x, rng):
    """A random transform drawing from the loader's generator, as the augmentations do."""
    return x + rng.normal(scale=0.1, size=x.shape).astype(x.dtype)


def run(epochs, checkpoint=None, resume=None, interrupt_at=None):
    """A run with every kind of state: shuffling, a random transform, dropout, momentum, a
    cosine schedule, early stopping keeping the best weights."""
    minidl.manual_seed(0)
    x, y = blobs()
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6)
    train = DataLoader(x[:90], y[:90], 16, shuffle=True, seed=3, transform=jitter)
    val = DataLoader(x[90:], y[90:], 30)
    callbacks = [EarlyStopping(patience=10), BestWeights(), Interrupt(interrupt_at)]
    if resume is not None:
        minidl.manual_seed(123)          # a fresh process would not share the generator's state
        train.rng = np.random.default_rng(99)
    history = fit(model, opt, train, val, epochs=epochs, scheduler=sched, callbacks=callbacks,
                  progress=False, checkpoint=checkpoint, resume=resume)
    return model, opt, history


def without_seconds(history):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in history.epochs]


@pytest.mark.parametrize("stop_after", [1, 3])
def test_a_resumed_run_equals_the_uninterrupted_one(tmp_path, stop_after):
    full_model, full_opt, full = run(6)
    ckpt = tmp_path / "ckpt.npz"
    with pytest.raises(KeyboardInterrupt):
        run(6, checkpoint=ckpt, interrupt_at=stop_after + 1)
    model, opt, resumed = run(6, resume=ckpt)
    for (name, a), b in zip(full_model.state_dict().items(), model.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert without_seconds(resumed) == without_seconds(full)
    assert resumed.iteration_loss == full.iteration_loss
    assert resumed.restored_epoch == full.restored_epoch
    assert [e["epoch"] for e in resumed.epochs] == [1, 2, 3, 4, 5, 6]
    assert opt.param_groups[0]["lr"] == full_opt.param_groups[0]["lr"]


def test_resuming_a_finished_run_changes_nothing_and_a_foreign_file_is_refused(tmp_path):
    ckpt = tmp_path / "ckpt.npz"
    model, _, history = run(2, checkpoint=ckpt)
    again, _, resumed = run(2, resume=ckpt)
    assert len(resumed) == 2 and resumed.iteration_loss == history.iteration_loss
    minidl.save({"w": np.zeros(2)}, tmp_path / "weights.npz")
    with pytest.raises(ValueError, match="not a checkpoint written by fit"):
        run(2, resume=tmp_path / "weights.npz")
