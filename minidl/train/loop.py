"""Training loop: fit() a model with an optimizer, evaluate() it, and callbacks for early stopping,
keeping the best weights and checkpointing.

    history = fit(model, optimizer, train_loader, val_loader, epochs=5,
                  callbacks=[EarlyStopping(patience=2), ModelCheckpoint("runs/best.npz")])
    result = evaluate(model, test_loader)      # loss, accuracy, confusion matrix, predictions

One epoch is the textbook loop: for each mini-batch, forward, loss, backward, optimizer step, in
``model.train()`` mode; then the validation set is scored in ``model.eval()`` mode with no graph
recorded; then the callbacks look at the epoch's numbers and the learning-rate schedule steps.
Loaders yield NumPy batches (x float (N, ...), y int (N,)); they are wrapped in Tensors and moved
to ``device`` here.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, TextIO

import numpy as np

from . import backend
from . import functional as F
from .progress import ProgressBar, _format_seconds
from .serialization import save
from .tensor import Tensor, no_grad

# The per-epoch numbers a History keeps, in column order.
EPOCH_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


class History:
    """What happened during fit().

    iteration_loss  the training loss of every mini-batch, in order (floats)
    epochs          one dict per finished epoch with EPOCH_FIELDS: epoch (1-based), train_loss and
                    train_acc (means over the epoch's batches, in train mode), val_loss and
                    val_acc (None without validation data), lr (group 0's lr during the epoch)
                    and seconds (wall time of the epoch, validation included)
    stop_reason     why training ended before `epochs` (early stopping, a diverged loss), or None
    restored_epoch  the epoch whose weights were restored at the end (BestWeights), or None
    meta            free-form facts about the run (model, dataset, command line, test results)
    The columns are also attributes: history.val_loss is [epoch 1's, epoch 2's, ...].
    Accuracy is None when the outputs are not class scores (e.g. a regression loss).
    """

    def __init__(self, iteration_loss=(), epochs=(), stop_reason=None, restored_epoch=None,
                 meta=None):
        self.iteration_loss = [float(v) for v in iteration_loss]
        self.epochs = [dict(e) for e in epochs]
        self.stop_reason = stop_reason
        self.restored_epoch = restored_epoch
        self.meta = dict(meta or {})

    def __getattr__(self, name):
        if name in EPOCH_FIELDS:
            return [e.get(name) for e in self.epochs]
        raise AttributeError(f"History has no attribute {name!r}")

    def __len__(self) -> int:
        return len(self.epochs)

    def best_epoch(self, monitor: str = "val_loss") -> int | None:
        """The epoch (1-based) with the lowest loss (or highest accuracy) of `monitor`, or None."""
        mode = _mode(monitor)
        scored = [(e[monitor], e["epoch"]) for e in self.epochs if e.get(monitor) is not None]
        if not scored:
            return None
        best = min(scored) if mode == "min" else max(scored, key=lambda s: (s[0], -s[1]))
        return best[1]

    def to_dict(self) -> dict:
        return {"epochs": self.epochs, "iteration_loss": self.iteration_loss,
                "stop_reason": self.stop_reason, "restored_epoch": self.restored_epoch,
                "meta": self.meta}

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=_json_default)

    def save(self, path) -> Path:
        """Write to_json() to path (e.g. runs/lab6/history.json)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n")
        return path

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        missing = [k for k in ("epochs", "iteration_loss") if k not in data]
        if missing:
            raise ValueError(f"History.from_dict: missing keys {missing}")
        return cls(data["iteration_loss"], data["epochs"], data.get("stop_reason"),
                   data.get("restored_epoch"), data.get("meta"))

    @classmethod
    def from_json(cls, text: str) -> "History":
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path) -> "History":
        return cls.from_json(Path(path).read_text())

    def __repr__(self) -> str:
        return (f"History({len(self.epochs)} epochs, {len(self.iteration_loss)} iterations, "
                f"best val_loss epoch {self.best_epoch()})")


def _json_default(value):
    """NumPy numbers and arrays inside meta become plain JSON numbers and lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"History.to_json: cannot store {type(value).__name__} {value!r}")


def _mode(monitor: str) -> str:
    """Accuracies improve upwards, losses downwards."""
    return "max" if monitor.endswith("acc") else "min"


# ----- callbacks ------------------------------------------------------------------------------
class FitState:
    """What callbacks see: the model, optimizer and history; setting stop_training (with a
    stop_reason) ends fit() after the current epoch."""

    def __init__(self, model, optimizer, history: History, epochs: int):
        self.model, self.optimizer, self.history, self.epochs = model, optimizer, history, epochs
        self.stop_training = False
        self.stop_reason: str | None = None

    @property
    def last(self) -> dict:
        """The numbers of the epoch that just ended (history.epochs[-1])."""
        return self.history.epochs[-1]

    def stop(self, reason: str) -> None:
        self.stop_training, self.stop_reason = True, reason


class Callback:
    """Hooks that fit() calls: on_train_begin, on_epoch_end (after validation), on_train_end
    (also after an early stop). Each receives the FitState."""

    def on_train_begin(self, state: FitState) -> None:
        pass

    def on_epoch_end(self, state: FitState) -> None:
        pass

    def on_train_end(self, state: FitState) -> None:
        pass


class _Monitor(Callback):
    """Tracks the best value of one per-epoch number ('val_loss' by default); `improved` tells
    whether the epoch that just ended beat the best by more than min_delta."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0):
        if monitor not in EPOCH_FIELDS[1:5]:
            raise ValueError(f"{type(self).__name__}: monitor must be one of {EPOCH_FIELDS[1:5]}, "
                             f"got {monitor!r}")
        if min_delta < 0:
            raise ValueError(f"{type(self).__name__}: min_delta must be >= 0, got {min_delta}")
        self.monitor, self.min_delta, self.mode = monitor, min_delta, _mode(monitor)
        self.best: float | None = None
        self.best_epoch: int | None = None

    def on_train_begin(self, state: FitState) -> None:
        self.best, self.best_epoch = None, None

    def _value(self, state: FitState) -> float:
        value = state.last.get(self.monitor)
        if value is None:
            hint = " (pass val_data to fit)" if self.monitor.startswith("val") else ""
            raise ValueError(f"{type(self).__name__}: epoch {state.last['epoch']} has no "
                             f"{self.monitor!r}{hint}")
        return value

    def _improved(self, state: FitState) -> bool:
        """Update best/best_epoch from the last epoch; True if it was an improvement."""
        value = self._value(state)
        if self.best is None:
            better = math.isfinite(value)
        elif self.mode == "min":
            better = value < self.best - self.min_delta
        else:
            better = value > self.best + self.min_delta
        if better:
            self.best, self.best_epoch = value, state.last["epoch"]
        return better


class BestWeights(_Monitor):
    """Keep a copy of the weights from the epoch with the best `monitor` value (the lowest
    validation loss by default) and load them back into the model when training ends."""

    def __init__(self, monitor: str = "val_loss"):
        super().__init__(monitor)
        self.state_dict = None

    def on_train_begin(self, state: FitState) -> None:
        super().on_train_begin(state)
        self.state_dict = None

    def on_epoch_end(self, state: FitState) -> None:
        if self._improved(state):
            self.state_dict = state.model.state_dict()   # copies

    def on_train_end(self, state: FitState) -> None:
        if self.state_dict is not None:
            state.model.load_state_dict(self.state_dict)
            state.history.restored_epoch = self.best_epoch


class EarlyStopping(_Monitor):
    """Stop when `monitor` (validation loss) has not improved by more than min_delta for
    `patience` epochs in a row: the lectures' "train until the validation loss starts to
    increase". With restore_best (the default) the best epoch's weights are loaded at the end."""

    def __init__(self, patience: int = 3, min_delta: float = 0.0, monitor: str = "val_loss",
                 restore_best: bool = True):
        super().__init__(monitor, min_delta)
        if int(patience) != patience or patience < 1:
            raise ValueError(f"EarlyStopping: patience must be an int >= 1, got {patience!r}")
        self.patience = int(patience)
        self.best_weights = BestWeights(monitor) if restore_best else None
        self.wait = 0

    def on_train_begin(self, state: FitState) -> None:
        super().on_train_begin(state)
        self.wait = 0
        if self.best_weights is not None:
            self.best_weights.on_train_begin(state)

    def on_epoch_end(self, state: FitState) -> None:
        improved = self._improved(state)
        if self.best_weights is not None:
            self.best_weights.on_epoch_end(state)
        if improved:
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            state.stop(f"early stopping: {self.monitor} did not improve by more than "
                       f"{self.min_delta:g} for {self.patience} epoch(s); best "
                       f"{self.best:.4f} at epoch {self.best_epoch}")

    def on_train_end(self, state: FitState) -> None:
        if self.best_weights is not None:
            self.best_weights.on_train_end(state)


class ModelCheckpoint(_Monitor):
    """Save model.state_dict() to `path` (.npz, with minidl.save) whenever `monitor` reaches a
    new best, so the file always holds the best weights seen so far."""

    def __init__(self, path, monitor: str = "val_loss"):
        super().__init__(monitor)
        self.path = Path(path)

    def on_epoch_end(self, state: FitState) -> None:
        if self._improved(state):
            self.path = save(state.model.state_dict(), self.path)


# ----- batches --------------------------------------------------------------------------------
def _to_tensors(x, y, device: str, where: str) -> tuple[Tensor, Tensor]:
    """A loader's NumPy batch as Tensors on device; images must already be floats."""
    x = np.asarray(x) if not backend.is_cupy_array(x) else x
    if x.dtype.kind != "f":
        raise TypeError(f"{where}: the loader gave images of dtype {x.dtype}; convert them to "
                        f"floats first, e.g. minidl.data.to_float(images) for uint8 images")
    return Tensor(backend.to_device(x, device)), Tensor(backend.to_device(np.asarray(y), device))


def _finite(t: Tensor) -> bool:
    """False only for a floating-point tensor holding NaN or infinity (outputs that are not one
    tensor are left to the loss to check)."""
    if not isinstance(t, Tensor) or t.dtype.kind != "f":
        return True
    return bool(backend.get_array_module(t.data).isfinite(t.data).all())


def _correct(logits: Tensor, target: Tensor) -> int | None:
    """How many argmax predictions match integer targets, or None when the outputs are not
    class scores over axis 1 ((N, K) with (N,), or (N, K, H, W) with (N, H, W))."""
    if target.dtype.kind not in "iu" or logits.ndim != target.ndim + 1:
        return None
    return int((logits.data.argmax(axis=1) == target.data).sum())


# ----- evaluation -----------------------------------------------------------------------------
def evaluate(model, data: Iterable, loss: Callable = F.cross_entropy, device: str = "cpu",
             progress: bool = False, desc: str = "evaluate") -> dict:
    """Score model on every batch of data in eval mode, without recording a graph.

    Returns {"loss": mean loss per sample, "accuracy": fraction correct (None if the outputs are
    not class scores), "num_samples": N, "predictions": int64 (N,) argmax classes, "targets":
    int64 (N,), "confusion_matrix": int64 (K, K) with [true, predicted] counts}. The model's
    train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    total_loss, count = 0.0, 0
    predictions, targets = [], []
    num_classes = None
    bar = ProgressBar(len(data) if hasattr(data, "__len__") else None, desc, disable=not progress)
    try:
        with no_grad():
            for x, y in data:
                x, y = _to_tensors(x, y, device, "evaluate")
                out = model(x)
                n = len(y)
                total_loss += float(loss(out, y).item()) * n
                count += n
                if _correct(out, y) is not None:
                    num_classes = out.shape[1]
                    predictions.append(backend.to_device(out.data.argmax(axis=1), "cpu").ravel())
                    targets.append(backend.to_device(y.data, "cpu").ravel())
                bar.update(1)
    finally:
        bar.close()
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate: the data yielded no batches")
    result = {"loss": total_loss / count, "accuracy": None, "num_samples": count,
              "predictions": None, "targets": None, "confusion_matrix": None}
    if num_classes is not None:
        pred = np.concatenate(predictions).astype(np.int64)
        true = np.concatenate(targets).astype(np.int64)
        cm = np.bincount(true * num_classes + pred, minlength=num_classes ** 2)
        result.update(accuracy=float((pred == true).mean()), predictions=pred, targets=true,
                      confusion_matrix=cm.reshape(num_classes, num_classes).astype(np.int64))
    return result


# ----- training -------------------------------------------------------------------------------
def _diverged(what: str, epoch: int, batch: int, optimizer) -> str:
    """fit's stop message when the outputs or the loss are no longer finite numbers."""
    return (f"{what} at epoch {epoch}, batch {batch}: training diverged; try a smaller learning rate "
            f"than {optimizer.param_groups[0]['lr']:g}")


def _train_epoch(model, optimizer, data, loss, device, bar, state, epoch):
    """One pass over data; returns (mean loss per sample, accuracy or None, stop message)."""
    model.train()
    total_loss, seen, correct, counted = 0.0, 0, 0, 0
    batches = len(data) if hasattr(data, "__len__") else "?"
    for i, (x, y) in enumerate(data, start=1):
        x, y = _to_tensors(x, y, device, "fit")
        try:
            if not _finite(x):
                raise ValueError(f"fit: the training inputs hold NaN or infinite values (shape {x.shape})")
            optimizer.zero_grad()
            out = model(x)
            if not _finite(out):        # weights blown up: the loss would only refuse its input
                return total_loss / max(seen, 1), None, _diverged(
                    "the model's outputs became NaN or infinite", epoch, i, optimizer)
            value = loss(out, y)
            value.backward()
            optimizer.step()
        except (ValueError, TypeError, FloatingPointError) as err:
            err.add_note(f"fit: while training on epoch {epoch}/{state.epochs}, batch "
                         f"{i}/{batches} (lr {optimizer.param_groups[0]['lr']:g})")
            raise
        value = float(value.item())
        state.history.iteration_loss.append(value)
        if not math.isfinite(value):
            return total_loss / max(seen, 1), None, _diverged(
                f"the training loss became {value}", epoch, i, optimizer)
        n = len(y)
        total_loss += value * n
        seen += n
        right = _correct(out, y)
        if right is not None:
            correct += right
            counted += int(y.size)
        postfix = {"loss": total_loss / seen}
        if counted:
            postfix["acc"] = correct / counted
        bar.update(1, **postfix)
    if seen == 0:
        raise ValueError("fit: train_data yielded no batches")
    return total_loss / seen, (correct / counted if counted else None), None


def _epoch_line(record: dict, epochs: int, eta: float | None, best: bool) -> str:
    def num(key):
        v = record.get(key)
        return "-" if v is None else f"{v:.4f}"
    line = (f"epoch {record['epoch']}/{epochs}: train loss {num('train_loss')} acc "
            f"{num('train_acc')} | val loss {num('val_loss')} acc {num('val_acc')} | "
            f"lr {record['lr']:.3g} | {record['seconds']:.1f}s")
    if best:
        line += " *best"
    if eta is not None:
        line += f" | ETA {_format_seconds(eta)}"
    return line


def fit(model, optimizer, train_data: Iterable, val_data: Iterable | None = None, epochs: int = 1,
        loss: Callable = F.cross_entropy, callbacks=(), scheduler=None, progress: bool = True,
        device: str = "cpu", file: TextIO | None = None) -> History:
    """Train model for `epochs` passes over train_data and return the History.

    train_data / val_data  iterables of (x, y) NumPy batches, e.g. minidl.data.DataLoader
    loss                   loss(outputs, targets) -> scalar Tensor (mean over the batch)
    callbacks              Callback objects (EarlyStopping, BestWeights, ModelCheckpoint, ...)
    scheduler              an lr_scheduler, stepped once at the end of every epoch
    progress               show a progress bar per epoch (epoch, ETA, running loss and accuracy)
                           and a summary line per epoch on `file` (stderr by default)
    device                 'cpu' or 'cuda': the model is moved there, and every batch
    """
    if int(epochs) != epochs or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
    file = file if file is not None else sys.stderr
    model.to(device)
    history = History()
    state = FitState(model, optimizer, history, int(epochs))
    callbacks = list(callbacks)
    for cb in callbacks:
        cb.on_train_begin(state)
    best_val = math.inf
    start = time.monotonic()
    for epoch in range(1, int(epochs) + 1):
        t0 = time.monotonic()
        lr = float(optimizer.param_groups[0]["lr"])
        total = len(train_data) if hasattr(train_data, "__len__") else None
        bar = ProgressBar(total, f"epoch {epoch}/{epochs}", file=file, disable=not progress)
        try:
            train_loss, train_acc, diverged = _train_epoch(model, optimizer, train_data, loss,
                                                           device, bar, state, epoch)
        finally:
            bar.close()
        record = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
                  "val_loss": None, "val_acc": None, "lr": lr, "seconds": 0.0}
        if diverged is None and val_data is not None:
            result = evaluate(model, val_data, loss, device)
            record.update(val_loss=result["loss"], val_acc=result["accuracy"])
        record["seconds"] = time.monotonic() - t0
        history.epochs.append(record)
        if diverged is not None:
            state.stop(diverged)
            break
        for cb in callbacks:
            cb.on_epoch_end(state)
        if scheduler is not None:
            scheduler.step()
        if progress:
            is_best = record["val_loss"] is not None and record["val_loss"] < best_val
            left = epochs - epoch
            eta = (time.monotonic() - start) / epoch * left if left else None
            print(_epoch_line(record, epochs, eta, is_best), file=file, flush=True)
        if record["val_loss"] is not None:
            best_val = min(best_val, record["val_loss"])
        if state.stop_training:
            break
    for cb in callbacks:
        cb.on_train_end(state)
    history.stop_reason = state.stop_reason
    if progress and state.stop_reason:
        print(state.stop_reason, file=file, flush=True)
    if progress and history.restored_epoch is not None:
        print(f"restored the weights of epoch {history.restored_epoch}", file=file, flush=True)
    return history
