"""History: what happened during fit(), per epoch and per mini-batch, saved as JSON.

    history.val_loss                 # [epoch 1's, epoch 2's, ...]
    history.best_epoch("val_acc")    # 1-based
    history.save("runs/lab6/history.json"); History.load(...)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

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
        mode = monitor_mode(monitor)
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


def monitor_mode(monitor: str) -> str:
    """'max' for accuracies (they improve upwards), 'min' for losses."""
    return "max" if monitor.endswith("acc") else "min"
