"""Bad training data and bad numbers: non-finite targets are refused as data (not called a
divergence), a failed step never leaves its weights in the model, and numeric arguments are
checked as ints or finite floats with messages naming them."""
import math

import numpy as np
import pytest

import minidl
from minidl import Tensor, nn, optim
from minidl import functional as F
from minidl.data import DataLoader, Dataset
from minidl.train import EarlyStopping, TrainingDiverged, fit, train_step


def regression(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)


def weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_regression_targets_are_bad_data_and_leave_the_weights(bad):
    """NaN in the targets was reported as 'training diverged, try a smaller learning rate' and
    left NaN weights (the loss was checked after backward and step)."""
    minidl.manual_seed(0)
    x, y = regression()
    y[13, 0] = bad
    model = nn.Linear(3, 1)
    start = weights(model)
    with pytest.raises(ValueError, match="training targets hold NaN or infinite values.*bad data") as info:
        fit(model, optim.SGD(model.parameters(), lr=0.01), DataLoader(x, y, 10), epochs=1,
            loss=F.mse_loss, progress=False)
    assert "batch 2/4" in "\n".join(info.value.__notes__)
    after = weights(model)
    assert all(np.isfinite(v).all() for v in after.values())
    assert any(not np.array_equal(start[k], after[k]) for k in start)   # batch 1 did train


def test_a_non_finite_loss_is_caught_before_backward_and_step():
    minidl.manual_seed(0)
    x, y = regression(8)
    model = nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = weights(model)
    with pytest.raises(TrainingDiverged, match="loss became nan") as info:
        train_step(model, opt, Tensor(x), Tensor(y), loss=lambda out, t: F.mse_loss(out, t) * math.nan)
    assert math.isnan(info.value.loss)
    assert all(np.array_equal(before[k], v) for k, v in weights(model).items())
    assert all(p.grad is None or not np.any(p.grad) for p in model.parameters())


def test_a_step_that_overflows_the_weights_is_undone():
    minidl.manual_seed(0)
    x, y = regression(8)
    model = nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=1e39)          # lr * grad overflows float32
    before = weights(model)
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(TrainingDiverged, match="made the weights NaN or infinite.*put back"):
            train_step(model, opt, Tensor(x), Tensor(y), loss=F.mse_loss)
    assert all(np.array_equal(before[k], v) for k, v in weights(model).items())
    history_model = nn.Linear(3, 1)
    with np.errstate(over="ignore", invalid="ignore"):
        history = fit(history_model, optim.SGD(history_model.parameters(), lr=1e39),
                      DataLoader(x, y, 4), epochs=2, loss=F.mse_loss, progress=False)
    assert "smaller learning rate" in history.stop_reason
    assert all(np.isfinite(v).all() for v in weights(history_model).values())


@pytest.mark.parametrize("value, error, message", [
    (math.nan, ValueError, "batch_size must be an int >= 1, got nan"),
    (math.inf, ValueError, "got inf"), (None, TypeError, "got NoneType None"),
    (True, TypeError, "got True"), (2.5, ValueError, "got 2.5"), (0, ValueError, "got 0"),
    ("4", TypeError, "got str '4'"),
])
def test_dataloader_batch_size_must_be_a_real_int(value, error, message):
    with pytest.raises(error, match=f"DataLoader: {message}" if "batch" in message else message):
        DataLoader(np.zeros((4, 2), np.float32), np.zeros(4, np.int64), value)


def test_whole_float_batch_sizes_still_work():
    assert DataLoader(np.zeros((4, 2)), np.zeros(4, np.int64), 2.0).batch_size == 2


@pytest.mark.parametrize("epochs, error", [(math.nan, ValueError), (math.inf, ValueError),
                                           (None, TypeError), (True, TypeError), (-1, ValueError)])
def test_fit_epochs_must_be_an_int(epochs, error):
    model = nn.Linear(3, 1)
    with pytest.raises(error, match="fit: epochs must be an int >= 0"):
        fit(model, optim.SGD(model.parameters(), lr=0.1), [], epochs=epochs, progress=False)


def test_callback_numbers_are_checked():
    with pytest.raises(ValueError, match="EarlyStopping: patience must be an int >= 1, got nan"):
        EarlyStopping(patience=math.nan)
    with pytest.raises(TypeError, match="EarlyStopping: patience"):
        EarlyStopping(patience=True)
    with pytest.raises(ValueError, match="EarlyStopping: min_delta must be a finite number >= 0"):
        EarlyStopping(min_delta=math.nan)


def test_uint64_labels_above_2_63_are_refused_not_wrapped():
    labels = np.array([1, 2 ** 63 + 5], dtype=np.uint64)
    with pytest.raises(ValueError, match="labels must fit in int64, got 9223372036854775813"):
        DataLoader(np.zeros((2, 1)), labels, 1)
    with pytest.raises(ValueError, match="labels must fit in int64"):
        Dataset(np.zeros((2, 1)), labels)
    assert DataLoader(np.zeros((2, 1)), labels.clip(0, 9), 1).labels.tolist() == [1, 9]
