"""fit / evaluate / History / callbacks on tiny problems whose outcome is known in advance."""
import io
import json

import numpy as np
import pytest

import minidl
from minidl import Tensor, nn, optim
from minidl import functional as F
from minidl.data import DataLoader
from minidl.models.mlp import mlp
from minidl.train import (EPOCH_FIELDS, BestWeights, Callback, EarlyStopping, History,
                          ModelCheckpoint, evaluate, fit)


def blobs(n=240, seed=0):
    """Three well separated Gaussian blobs in 2-D: linearly separable, 3 classes."""
    rng = np.random.default_rng(seed)
    centres = np.array([[4.0, 0.0], [-2.0, 3.5], [-2.0, -3.5]])
    y = rng.integers(0, 3, n)
    x = centres[y] + rng.normal(scale=0.6, size=(n, 2))
    return x.astype(np.float32), y.astype(np.int64)


def small_setup(lr=0.05, seed=0):
    minidl.manual_seed(seed)
    x, y = blobs()
    model = mlp(2, (8,), 3)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    train = DataLoader(x[:180], y[:180], 30, shuffle=True, seed=seed)
    val = DataLoader(x[180:], y[180:], 25)
    return model, opt, train, val


class FakeValLoss(Callback):
    """Overwrites each epoch's val_loss with the next value of a fixed sequence, so callbacks
    listed after it see that sequence (a deterministic 'validation loss starts rising')."""

    def __init__(self, values):
        self.values = list(values)

    def on_epoch_end(self, state):
        state.last["val_loss"] = self.values[state.last["epoch"] - 1]


class RecordWeights(Callback):
    def __init__(self):
        self.states = []

    def on_epoch_end(self, state):
        self.states.append(state.model.state_dict())


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def differs(a, b):
    return any(not np.array_equal(a[k], b[k]) for k in a)


def test_fit_learns_a_separable_problem():
    model, opt, train, val = small_setup()
    history = fit(model, opt, train, val, epochs=6, progress=False)
    assert len(history) == 6
    assert len(history.iteration_loss) == 6 * len(train)
    assert history.train_loss[-1] < 0.25 * history.train_loss[0]
    assert np.mean(history.iteration_loss[-6:]) < np.mean(history.iteration_loss[:6])
    assert history.val_acc[-1] >= 0.95
    assert evaluate(model, val)["accuracy"] >= 0.95


def test_history_fields_and_json_round_trip(tmp_path):
    model, opt, train, val = small_setup()
    history = fit(model, opt, train, val, epochs=2, progress=False)
    for record in history.epochs:
        assert set(record) == set(EPOCH_FIELDS)
        assert record["seconds"] > 0
        assert 0.0 <= record["train_acc"] <= 1.0 and 0.0 <= record["val_acc"] <= 1.0
        assert record["lr"] == pytest.approx(0.05)
    assert history.epoch == [1, 2]
    history.meta["note"] = np.float32(0.5)       # NumPy numbers become JSON numbers
    data = json.loads(history.to_json())
    assert data["meta"]["note"] == 0.5
    again = History.from_json(history.to_json())
    assert again.to_dict() == json.loads(history.to_json())
    assert again.val_loss == history.val_loss and again.iteration_loss == history.iteration_loss
    path = history.save(tmp_path / "run" / "history.json")
    assert History.load(path).train_acc == history.train_acc


def test_history_without_validation_has_none_and_best_epoch_none():
    model, opt, train, _ = small_setup()
    history = fit(model, opt, train, epochs=1, progress=False)
    assert history.val_loss == [None] and history.val_acc == [None]
    assert history.best_epoch() is None
    assert history.best_epoch("train_loss") == 1


def test_history_best_epoch_by_mode():
    h = History(epochs=[{"epoch": 1, "val_loss": 0.5, "val_acc": 0.7},
                        {"epoch": 2, "val_loss": 0.3, "val_acc": 0.6},
                        {"epoch": 3, "val_loss": 0.4, "val_acc": 0.9}])
    assert h.best_epoch("val_loss") == 2
    assert h.best_epoch("val_acc") == 3


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    model, opt, train, val = small_setup()
    # best at epoch 2; epochs 3 and 4 do not improve -> with patience 2 training ends after 4
    fake = FakeValLoss([1.0, 0.8, 0.9, 0.95, 0.5, 0.4, 0.3, 0.2])
    stopper = EarlyStopping(patience=2, restore_best=False)
    history = fit(model, opt, train, val, epochs=8, callbacks=[fake, stopper], progress=False)
    assert len(history) == 4
    assert history.val_loss == [1.0, 0.8, 0.9, 0.95]
    assert "early stopping" in history.stop_reason and "epoch 2" in history.stop_reason
    assert history.restored_epoch is None


def test_early_stopping_min_delta_counts_small_gains_as_no_improvement():
    model, opt, train, val = small_setup()
    fake = FakeValLoss([1.0, 0.99, 0.98, 0.5, 0.4])
    history = fit(model, opt, train, val, epochs=5, progress=False,
                  callbacks=[fake, EarlyStopping(patience=2, min_delta=0.05, restore_best=False)])
    assert len(history) == 3


def test_early_stopping_runs_all_epochs_while_improving():
    model, opt, train, val = small_setup()
    fake = FakeValLoss([1.0, 0.9, 0.8])
    history = fit(model, opt, train, val, epochs=3, progress=False,
                  callbacks=[fake, EarlyStopping(patience=1)])
    assert len(history) == 3 and history.stop_reason is None


def test_early_stopping_on_real_overfitting():
    """A wide net on 12 noisy-labelled points: the training loss keeps falling while the
    validation loss turns up, and EarlyStopping ends the run before all 200 epochs."""
    minidl.manual_seed(0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(112, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    y[:12] = rng.integers(0, 2, 12)                          # the training labels are noisy
    model = mlp(2, (64, 64), 2)
    opt = optim.Adam(model.parameters(), lr=0.02)
    val = DataLoader(x[12:], y[12:], 100)
    history = fit(model, opt, DataLoader(x[:12], y[:12], 12), val, epochs=200,
                  callbacks=[EarlyStopping(patience=10)], progress=False)
    best = history.best_epoch()
    assert len(history) == best + 10 < 200                  # stopped 10 epochs after the best
    assert history.train_loss[-1] < history.train_loss[best - 1]   # while training improved
    assert history.restored_epoch == best
    assert evaluate(model, val)["loss"] == pytest.approx(history.val_loss[best - 1], rel=1e-6)


@pytest.mark.parametrize("make", [lambda: BestWeights(), lambda: EarlyStopping(patience=5)],
                         ids=["BestWeights", "EarlyStopping"])
def test_restore_best_loads_the_weights_of_the_best_epoch(make):
    model, opt, train, val = small_setup()
    recorder = RecordWeights()
    history = fit(model, opt, train, val, epochs=4, progress=False,
                  callbacks=[FakeValLoss([3.0, 1.0, 2.0, 4.0]), recorder, make()])
    assert history.restored_epoch == 2
    assert differs(recorder.states[1], recorder.states[3])   # training did move the weights
    assert_same_weights(model.state_dict(), recorder.states[1])


def test_model_checkpoint_saves_the_best_weights(tmp_path):
    model, opt, train, val = small_setup()
    recorder = RecordWeights()
    ckpt = ModelCheckpoint(tmp_path / "best.npz")
    fit(model, opt, train, val, epochs=4, progress=False,
        callbacks=[FakeValLoss([3.0, 1.0, 2.0, 0.5]), recorder, ckpt])
    assert_same_weights(minidl.load(tmp_path / "best.npz"), recorder.states[3])
    fresh = RecordWeights()
    fit(model, opt, train, val, epochs=3, progress=False,
        callbacks=[FakeValLoss([3.0, 1.0, 2.0]), fresh, ModelCheckpoint(tmp_path / "b2.npz")])
    assert_same_weights(minidl.load(tmp_path / "b2.npz"), fresh.states[1])


def test_monitor_needs_validation_data():
    model, opt, train, _ = small_setup()
    with pytest.raises(ValueError, match="EarlyStopping.*val_loss.*val_data"):
        fit(model, opt, train, epochs=1, callbacks=[EarlyStopping()], progress=False)
    with pytest.raises(ValueError, match="monitor"):
        BestWeights(monitor="val_accuracy")


def test_evaluate_confusion_matrix_matches_predictions():
    minidl.manual_seed(3)
    x, y = blobs(53, seed=3)
    model = mlp(2, (4,), 3)                          # untrained: makes mistakes of every kind
    result = evaluate(model, DataLoader(x, y, 16))   # batches of 16, 16, 16, 5
    with minidl.no_grad():
        logits = model(Tensor(x))
    pred = logits.numpy().argmax(axis=1)
    np.testing.assert_array_equal(result["predictions"], pred)
    np.testing.assert_array_equal(result["targets"], y)
    cm = result["confusion_matrix"]
    assert cm.shape == (3, 3) and cm.sum() == 53 == result["num_samples"]
    for i in range(3):
        for j in range(3):
            assert cm[i, j] == np.sum((y == i) & (pred == j))
    assert result["accuracy"] == pytest.approx(np.trace(cm) / 53)
    assert result["accuracy"] == pytest.approx(np.mean(pred == y))
    # the per-sample mean over uneven batches equals the loss on all 53 at once
    assert result["loss"] == pytest.approx(F.cross_entropy(logits, Tensor(y)).item(), rel=1e-5)


class ModeProbe(nn.Module):
    """Records whether it ran in training mode and whether a graph was being recorded."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(2, 3)
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, minidl.is_grad_enabled()))
        return self.inner(x)


def test_fit_trains_in_train_mode_and_validates_in_eval_mode_without_grad():
    x, y = blobs(40)
    model = ModeProbe()
    opt = optim.SGD(model.parameters(), lr=0.1)
    fit(model, opt, DataLoader(x[:30], y[:30], 10), DataLoader(x[30:], y[30:], 10), epochs=1,
        progress=False)
    assert model.calls == [(True, True)] * 3 + [(False, False)]
    model.train()
    evaluate(model, DataLoader(x, y, 40))
    assert model.training                           # evaluate restores the mode


def test_scheduler_steps_once_per_epoch():
    model, opt, train, val = small_setup(lr=0.08)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = fit(model, opt, train, val, epochs=3, scheduler=sched, progress=False)
    assert history.lr == pytest.approx([0.08, 0.04, 0.02])
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)


def test_diverging_loss_stops_training_with_a_reason():
    model, opt, train, val = small_setup()
    calls = {"n": 0}

    def exploding(out, y):                      # finite for 8 training batches, then NaN
        calls["n"] += minidl.is_grad_enabled()  # validation runs under no_grad
        loss = F.cross_entropy(out, y)
        return loss * float("nan") if calls["n"] > 8 else loss

    history = fit(model, opt, train, val, epochs=5, loss=exploding, progress=False)
    assert len(history) == 2                    # 6 batches per epoch: NaN in epoch 2, batch 3
    assert "diverged" in history.stop_reason and "epoch 2, batch 3" in history.stop_reason
    assert np.isnan(history.iteration_loss[-1]) and len(history.iteration_loss) == 9


def test_weights_blown_up_by_a_huge_learning_rate_stop_training_with_a_reason():
    model, opt, train, _ = small_setup(lr=1e30)
    with np.errstate(over="ignore", invalid="ignore"):     # the overflow is the point
        history = fit(model, opt, train, epochs=3, progress=False)
    assert "outputs became NaN or infinite" in history.stop_reason
    assert "smaller learning rate than 1e+30" in history.stop_reason
    assert len(history) < 3


def test_training_inputs_with_nan_are_refused_as_bad_data():
    model, opt, _, _ = small_setup()
    x = np.ones((4, 2), np.float32)
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match="training inputs hold NaN") as info:
        fit(model, opt, DataLoader(x, np.zeros(4, np.int64), 2), epochs=1, progress=False)
    assert "epoch 1/1, batch 2/2" in "\n".join(getattr(info.value, "__notes__", []))


def test_errors_inside_a_step_say_where_in_training():
    model, opt, _, _ = small_setup()
    x = np.zeros((4, 3), np.float32)                # the model wants 2 features
    with pytest.raises(minidl.ShapeError) as info:
        fit(model, opt, DataLoader(x, np.zeros(4, np.int64), 2), epochs=1, progress=False)
    assert "epoch 1/1, batch 1/2" in "\n".join(getattr(info.value, "__notes__", []))


def test_uint8_images_are_refused_with_a_hint():
    model, opt, _, _ = small_setup()
    images = np.zeros((4, 2), np.uint8)
    with pytest.raises(TypeError, match="to_float"):
        fit(model, opt, DataLoader(images, np.zeros(4, np.int64), 2), progress=False)


def test_progress_lines_show_epoch_running_loss_accuracy_and_eta():
    model, opt, train, val = small_setup()
    out = io.StringIO()                              # not a terminal: plain lines
    fit(model, opt, train, val, epochs=2, file=out)
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert any(line.startswith("epoch 1/2:") and "loss=" in line and "acc=" in line
               for line in lines)
    summary = [line for line in lines if "| val loss" in line]
    assert len(summary) == 2 and "ETA" in summary[0]
    silent = io.StringIO()
    fit(model, opt, train, val, epochs=1, file=silent, progress=False)
    assert silent.getvalue() == ""
