"""The training loop, in three layers: train_step (one mini-batch), train_epoch (one pass over
the data), fit (epochs, validation, callbacks, schedules); and evaluate.

    history = fit(model, optimizer, train_loader, val_loader, epochs=5,
                  callbacks=[EarlyStopping(patience=2), ModelCheckpoint("runs/best.npz")])
    result = evaluate(model, test_loader)      # loss, accuracy, confusion matrix, predictions

One epoch is the textbook loop: for each mini-batch, forward, loss, backward, optimizer step, in
``model.train()`` mode; then the validation set is scored in ``model.eval()`` mode with no graph
recorded; then the callbacks look at the epoch's numbers and the learning-rate schedule steps
(or it steps after every mini-batch: scheduler_interval="step"). fit is exactly

    for epoch in range(1, epochs + 1):
        result = train_epoch(model, optimizer, train_data, loss, device, scheduler if per step)
        evaluate(model, val_data, loss, device); callbacks; scheduler.step() if per epoch

Loaders yield NumPy batches (x float (N, ...), y int (N,)); they are wrapped in Tensors and moved
to ``device`` here.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Callable, Iterable, TextIO

import numpy as np

from .. import backend
from .. import functional as F
from ..progress import ProgressBar, format_seconds
from ..tensor import Tensor, no_grad
from ..data.arguments import check_int
from .callbacks import FitState
from .history import History
from .resume import load_checkpoint, restore, save_checkpoint
from .sync import LOCAL, sync_of

SCHEDULER_INTERVALS = ("epoch", "step")


class TrainingDiverged(ArithmeticError):
    """train_step: the outputs, the loss, the gradients or the stepped weights are NaN or
    infinite; the model keeps the weights it had before the step. ``loss`` is the batch's loss
    when it was computed (else None)."""

    def __init__(self, message: str, loss: float | None = None):
        super().__init__(message)
        self.loss = loss


# ----- batches --------------------------------------------------------------------------------
def _to_tensors(x, y, device: str, where: str) -> tuple[Tensor, Tensor]:
    """A loader's NumPy batch as Tensors on device; images must already be floats."""
    x = np.asarray(x) if not backend.is_cupy_array(x) else x
    if x.dtype.kind != "f":
        raise TypeError(f"{where}: the loader gave images of dtype {x.dtype}; convert them to "
                        f"floats first, e.g. minidl.data.to_float(images) for uint8 images")
    return Tensor(backend.to_device(x, device)), Tensor(backend.to_device(np.asarray(y), device))


def _finite(t) -> bool:
    """False only for a floating-point tensor or array holding NaN or infinity (outputs that
    are not one tensor are left to the loss to check)."""
    data = t.data if isinstance(t, Tensor) else t
    if not hasattr(data, "dtype") or data.dtype.kind not in "fc":
        return True
    return bool(backend.get_array_module(data).isfinite(data).all())


def _correct(logits: Tensor, target: Tensor) -> int | None:
    """How many argmax predictions match integer targets, or None when the outputs are not
    class scores over axis 1 ((N, K) with (N,), or (N, K, H, W) with (N, H, W))."""
    if target.dtype.kind not in "iu" or logits.ndim != target.ndim + 1:
        return None
    return int((logits.data.argmax(axis=1) == target.data).sum())


# ----- evaluation -----------------------------------------------------------------------------
def evaluate(model, data: Iterable, loss: Callable = F.cross_entropy, device: str = "cpu",
             progress: bool = False, desc: str = "evaluate", sync=None) -> dict:
    """Score model on every batch of data in eval mode, without recording a graph.

    Returns {"loss": mean loss per sample, "accuracy": fraction correct (None if the outputs are
    not class scores), "num_samples": N, "predictions": int64 (N,) argmax classes, "targets":
    int64 (N,), "confusion_matrix": int64 (K, K) with [true, predicted] counts}. The model's
    train/eval mode is restored afterwards. With a ``sync`` (minidl.train.sync), each process
    scores its shard and the result is the whole data's (predictions in rank order).
    """
    sync = LOCAL if sync is None else sync
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
    total_loss, count = sync.sum([total_loss, count])     # every process's shard
    count = int(count)
    if count == 0:
        raise ValueError("evaluate: the data yielded no batches")
    result = {"loss": float(total_loss) / count, "accuracy": None, "num_samples": count,
              "predictions": None, "targets": None, "confusion_matrix": None}
    if num_classes is not None:
        pred = sync.gather(np.concatenate(predictions).astype(np.int64))
        true = sync.gather(np.concatenate(targets).astype(np.int64))
        cm = np.bincount(true * num_classes + pred, minlength=num_classes ** 2)
        result.update(accuracy=float((pred == true).mean()), predictions=pred, targets=true,
                      confusion_matrix=cm.reshape(num_classes, num_classes).astype(np.int64))
    return result


# ----- training -------------------------------------------------------------------------------
def _diverged(what: str, epoch: int, batch: int, optimizer) -> str:
    """The stop message when the outputs or the loss are no longer finite numbers."""
    return (f"{what} at epoch {epoch}, batch {batch}: training diverged; try a smaller learning rate "
            f"than {optimizer.param_groups[0]['lr']:g}")


def train_step(model, optimizer, x: Tensor, y: Tensor, loss: Callable = F.cross_entropy):
    """One step of gradient descent on the batch (x, y): zero_grad, forward, loss, backward,
    optimizer.step() (given a closure that reruns forward, loss and backward on the batch when
    the optimizer needs one, as optim.SAM does). Returns (outputs, loss as a float).

    Raises TrainingDiverged when the outputs or the loss are NaN or infinite (before the
    backward pass), when a gradient is (before the step), or when the step itself made a weight
    so -- then the weights of before the step are put back (the optimizer's own state, e.g.
    momentum, is not: stop, or load a checkpoint). The model's train/eval mode is left as it
    is (train_epoch sets train mode). With several processes (the optimizer's sync) each check
    asks all of them, so they raise together.
    """
    sync = sync_of(optimizer)
    optimizer.zero_grad()
    out = model(x)
    if not sync.all(_finite(out)):  # weights blown up: the loss would only refuse its input
        raise TrainingDiverged("the model's outputs became NaN or infinite")
    value = loss(out, y)
    number = float(value.item())
    if not sync.all(math.isfinite(number)):
        where = "" if not math.isfinite(number) else " on another process"
        raise TrainingDiverged(f"the training loss became {number if not where else 'NaN or infinite'}"
                               f"{where}", number)
    value.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if not sync.all(all(_finite(p.grad) for p in params if p.grad is not None)):
        raise TrainingDiverged("the gradients became NaN or infinite", number)
    before = [p.data.copy() for p in params]
    if getattr(optimizer, "needs_closure", False):     # SAM: the gradient again, elsewhere
        optimizer.step(lambda: loss(model(x), y).backward())
    else:
        optimizer.step()
    if not all(_finite(p.data) for p in params):
        for p, old in zip(params, before):
            p.data[...] = old
        raise TrainingDiverged("the step made the weights NaN or infinite (they were put back)",
                               number)
    return out, number


def train_epoch(model, optimizer, data: Iterable, loss: Callable = F.cross_entropy,
                device: str = "cpu", scheduler=None, bar: ProgressBar | None = None,
                epoch: int = 1, epochs: int = 1) -> dict:
    """One pass over data in train mode: train_step on every batch, then scheduler.step() if a
    scheduler is given (a per-iteration schedule).

    bar            a ProgressBar updated after every batch with the running loss and accuracy
    epoch, epochs  where this pass is, for the messages only
    Returns {"loss": mean loss per sample, "accuracy": fraction correct (None if the outputs are
    not class scores, or on a stop), "num_samples": N, "batch_losses": [each batch's loss],
    "stop_reason": why the pass stopped early (a diverged loss or outputs), or None}.
    Errors inside a step get a note saying the epoch, batch and lr. With several processes (the
    optimizer's sync) the numbers are the whole job's: sums over the processes, each batch's loss
    the mean of theirs.
    """
    sync = sync_of(optimizer)
    if not sync.same(len(data) if hasattr(data, "__len__") else -1):
        raise ValueError("train_epoch: the processes' training data have different numbers of "
                         "batches; each must take the same number of steps (ShardedLoader does)")
    model.train()
    total_loss, seen, correct, counted = 0.0, 0, 0, 0
    batch_losses: list[float] = []
    batches = len(data) if hasattr(data, "__len__") else "?"

    def result(stop_reason=None):
        loss_sum, n, right, of = sync.sum([total_loss, seen, correct, counted])   # all processes'
        if n == 0 and stop_reason is None:
            raise ValueError("train_epoch: the training data yielded no batches")
        losses = [float(v) for v in sync.sum(batch_losses) / sync.size]
        accuracy = float(right / of) if of and stop_reason is None else None
        return {"loss": float(loss_sum / max(n, 1)), "accuracy": accuracy, "num_samples": int(n),
                "batch_losses": losses, "stop_reason": stop_reason}

    for i, (x, y) in enumerate(data, start=1):
        x, y = _to_tensors(x, y, device, "train_epoch")
        try:
            for what, t in (("inputs", x), ("targets", y)):
                if not _finite(t):
                    raise ValueError(f"train_epoch: the training {what} hold NaN or infinite "
                                     f"values (shape {t.shape}): bad data, not a divergence")
            out, value = train_step(model, optimizer, x, y, loss)
        except TrainingDiverged as err:
            if err.loss is not None:
                batch_losses.append(err.loss)
            return result(_diverged(str(err), epoch, i, optimizer))
        except (ValueError, TypeError, FloatingPointError) as err:
            err.add_note(f"train_epoch: while training on epoch {epoch}/{epochs}, batch "
                         f"{i}/{batches} (lr {optimizer.param_groups[0]['lr']:g})")
            raise
        if scheduler is not None:
            scheduler.step()
        batch_losses.append(value)
        n = len(y)
        total_loss += value * n
        seen += n
        right = _correct(out, y)
        if right is not None:
            correct += right
            counted += math.prod(y.shape)
        if bar is not None:
            postfix = {"loss": total_loss / seen}
            if counted:
                postfix["acc"] = correct / counted
            bar.update(1, **postfix)
    return result()


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
        line += f" | ETA {format_seconds(eta)}"
    return line


def fit(model, optimizer, train_data: Iterable, val_data: Iterable | None = None, epochs: int = 1,
        loss: Callable = F.cross_entropy, callbacks=(), scheduler=None,
        scheduler_interval: str = "epoch", progress: bool = True, device: str = "cpu",
        file: TextIO | None = None, checkpoint=None, resume=None) -> History:
    """Train model for `epochs` passes over train_data (train_epoch) and return the History.

    train_data / val_data  iterables of (x, y) NumPy batches, e.g. minidl.data.DataLoader
    loss                   loss(outputs, targets) -> scalar Tensor (mean over the batch)
    callbacks              Callback objects (EarlyStopping, BestWeights, ModelCheckpoint, ...)
    scheduler              an lr_scheduler, stepped as PyTorch's are: after the epoch's
                           callbacks (scheduler_interval="epoch"), or after every optimizer
                           step ("step"; T_max and step sizes then count mini-batches)
    progress               show a progress bar per epoch (epoch, ETA, running loss and accuracy)
                           and a summary line per epoch on `file` (stderr by default)
    device                 'cpu' or 'cuda': the model is moved there, and every batch
    checkpoint             a path: after every epoch, everything needed to resume is saved
                           there (minidl.train.resume), replacing the previous epoch's
    resume                 a checkpoint (its path or loaded dict) to continue from: the epoch
                           count, the schedule, the loader's shuffle order, the callbacks and
                           the History go on where it stopped; `epochs` is the total count
    Each epoch's "lr" in the History is group 0's lr at the start of the epoch.
    """
    epochs = check_int(epochs, "fit: epochs", 0)
    if scheduler_interval not in SCHEDULER_INTERVALS:
        raise ValueError(f"fit: scheduler_interval must be one of {SCHEDULER_INTERVALS}, got "
                         f"{scheduler_interval!r}")
    per_step = scheduler if scheduler_interval == "step" else None
    per_epoch = scheduler if scheduler_interval == "epoch" else None
    file = file if file is not None else sys.stderr
    sync = sync_of(optimizer)       # several processes: only the main one prints and saves
    progress = progress and sync.is_main
    model.to(device)
    history = History()
    state = FitState(model, optimizer, history, epochs)
    state.is_main = sync.is_main
    callbacks = list(callbacks)
    for cb in callbacks:
        cb.on_train_begin(state)
    done, best_val = 0, math.inf
    if resume is not None:
        done, best_val = restore(sync.share(load_checkpoint, resume), state, scheduler, train_data,
                                 callbacks)
    start = time.monotonic()
    for epoch in range(done + 1, epochs + 1):
        t0 = time.monotonic()
        lr = float(optimizer.param_groups[0]["lr"])
        total = len(train_data) if hasattr(train_data, "__len__") else None
        bar = ProgressBar(total, f"epoch {epoch}/{epochs}", file=file, disable=not progress)
        try:
            result = train_epoch(model, optimizer, train_data, loss, device, per_step, bar,
                                 epoch, epochs)
        finally:
            bar.close()
        history.iteration_loss.extend(result["batch_losses"])
        diverged = result["stop_reason"]
        record = {"epoch": epoch, "train_loss": result["loss"], "train_acc": result["accuracy"],
                  "val_loss": None, "val_acc": None, "lr": lr, "seconds": 0.0}
        sync.average_buffers(model)     # several processes: the batch-norm statistics
        if diverged is None and val_data is not None:
            scores = evaluate(model, val_data, loss, device, sync=sync)
            record.update(val_loss=scores["loss"], val_acc=scores["accuracy"])
        record["seconds"] = time.monotonic() - t0
        history.epochs.append(record)
        if diverged is not None:
            state.stop(diverged)
            break
        for cb in callbacks:
            cb.on_epoch_end(state)
        if per_epoch is not None:
            per_epoch.step()
        if progress:
            is_best = record["val_loss"] is not None and record["val_loss"] < best_val
            left = epochs - epoch
            eta = (time.monotonic() - start) / (epoch - done) * left if left else None
            print(_epoch_line(record, epochs, eta, is_best), file=file, flush=True)
        if record["val_loss"] is not None:
            best_val = min(best_val, record["val_loss"])
        if checkpoint is not None and sync.is_main:
            save_checkpoint(checkpoint, state, scheduler, train_data, callbacks, epoch, best_val)
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
