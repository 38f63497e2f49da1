"""Callbacks that fit() calls after every epoch: early stopping, keeping the best weights,
checkpointing; FitState is what they see.

    fit(model, opt, train, val, epochs=20,
        callbacks=[EarlyStopping(patience=2), ModelCheckpoint("runs/best.npz")])
"""
from __future__ import annotations

import math
from pathlib import Path

from ..data.arguments import check_float, check_int
from ..serialization import save
from .history import EPOCH_FIELDS, History, monitor_mode


class FitState:
    """What callbacks see: the model, optimizer and history; setting stop_training (with a
    stop_reason) ends fit() after the current epoch. is_main: whether this process writes files
    (False on the other ranks of a distributed job)."""

    is_main = True

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

    def state_dict(self) -> dict:
        """What the callback has learnt so far, as plain data (saved in fit's checkpoints)."""
        return {}

    def load_state_dict(self, state_dict: dict) -> None:
        """Continue from a state_dict() (fit(resume=...) calls it after on_train_begin)."""
        if state_dict:
            raise ValueError(f"{type(self).__name__}.load_state_dict: expected {{}}, got keys "
                             f"{sorted(state_dict)}")


class _Monitor(Callback):
    """Tracks the best value of one per-epoch number ('val_loss' by default); `improved` tells
    whether the epoch that just ended beat the best by more than min_delta."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0):
        if monitor not in EPOCH_FIELDS[1:5]:
            raise ValueError(f"{type(self).__name__}: monitor must be one of {EPOCH_FIELDS[1:5]}, "
                             f"got {monitor!r}")
        min_delta = check_float(min_delta, f"{type(self).__name__}: min_delta", 0.0)
        self.monitor, self.min_delta, self.mode = monitor, min_delta, monitor_mode(monitor)
        self.best: float | None = None
        self.best_epoch: int | None = None

    def on_train_begin(self, state: FitState) -> None:
        self.best, self.best_epoch = None, None

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best, self.best_epoch = state_dict["best"], state_dict["best_epoch"]

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
        self.weights = None

    def on_train_begin(self, state: FitState) -> None:
        super().on_train_begin(state)
        self.weights = None

    def on_epoch_end(self, state: FitState) -> None:
        if self._improved(state):
            self.weights = state.model.state_dict()   # copies

    def state_dict(self) -> dict:
        return {**super().state_dict(), "weights": self.weights}

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self.weights = state_dict["weights"]

    def on_train_end(self, state: FitState) -> None:
        if self.weights is not None:
            state.model.load_state_dict(self.weights)
            state.history.restored_epoch = self.best_epoch


class EarlyStopping(_Monitor):
    """Stop when `monitor` (validation loss) has not improved by more than min_delta for
    `patience` epochs in a row: the lectures' "train until the validation loss starts to
    increase". With restore_best (the default) the best epoch's weights are loaded at the end."""

    def __init__(self, patience: int = 3, min_delta: float = 0.0, monitor: str = "val_loss",
                 restore_best: bool = True):
        super().__init__(monitor, min_delta)
        self.patience = check_int(patience, "EarlyStopping: patience", 1)
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

    def state_dict(self) -> dict:
        return {**super().state_dict(), "wait": self.wait,
                "best_weights": self.best_weights.state_dict() if self.best_weights else None}

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self.wait = int(state_dict["wait"])
        if self.best_weights is not None:
            self.best_weights.load_state_dict(state_dict["best_weights"])


class ModelCheckpoint(_Monitor):
    """Save model.state_dict() to `path` (.npz, with minidl.save) whenever `monitor` reaches a
    new best, so the file always holds the best weights seen so far (in a distributed job, only
    the main process writes it)."""

    def __init__(self, path, monitor: str = "val_loss"):
        super().__init__(monitor)
        self.path = Path(path)

    def on_epoch_end(self, state: FitState) -> None:
        if self._improved(state) and state.is_main:
            self.path = save(state.model.state_dict(), self.path)
