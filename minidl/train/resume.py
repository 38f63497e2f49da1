"""Resuming fit(): the checkpoint it writes after every epoch, and putting a run back where
that checkpoint left it.

    fit(model, opt, train, val, epochs=10, checkpoint="runs/ckpt.npz")     # killed in epoch 6
    fit(model, opt, train, val, epochs=10, resume="runs/ckpt.npz")         # epochs 6..10

A checkpoint (a ``minidl.save`` file) holds everything the next epoch depends on: the model's
and the optimizer's state, the schedule's, the training loader's shuffle generator
(``DataLoader.state_dict()``), minidl's CPU generator (dropout, initialisation), the History so
far and each callback's state. Resuming with the same data, model and optimizer settings gives
the very parameters an uninterrupted run would have. (A CUDA generator is not saved: runs on a
GPU resume with fresh dropout masks.)
"""
from __future__ import annotations

import os

from ..random import generator
from ..serialization import load, save
from .history import History

__all__ = ["FORMAT", "load_checkpoint", "restore", "save_checkpoint"]

FORMAT = "minidl.train.fit checkpoint"


def save_checkpoint(path, state, scheduler, train_data, callbacks, epoch: int,
                    best_val: float):
    """Write the state after ``epoch`` (FitState ``state``) to ``path``, atomically."""
    history = state.history
    return save({
        "format": FORMAT, "version": 1, "epoch": epoch, "best_val": best_val,
        "model": state.model.state_dict(), "optimizer": state.optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "train_data": train_data.state_dict() if hasattr(train_data, "state_dict") else None,
        "random": generator("cpu").bit_generator.state,
        "history": {"epochs": history.epochs, "iteration_loss": history.iteration_loss},
        "callbacks": [cb.state_dict() for cb in callbacks],
    }, path)


def load_checkpoint(checkpoint) -> dict:
    """A checkpoint as a dict: ``checkpoint`` is a path (read with minidl.load) or the dict."""
    where = "fit: resume"
    if isinstance(checkpoint, (str, os.PathLike)):
        where = f"fit: resume from {os.fspath(checkpoint)}"
        checkpoint = load(checkpoint)
    if not (isinstance(checkpoint, dict) and checkpoint.get("format") == FORMAT):
        raise ValueError(f"{where}: not a checkpoint written by fit(checkpoint=...)")
    return checkpoint


def restore(checkpoint: dict, state, scheduler, train_data, callbacks) -> tuple[int, float]:
    """Load ``checkpoint`` into the run; returns (epochs done, best validation loss)."""
    state.model.load_state_dict(checkpoint["model"])
    state.optimizer.load_state_dict(checkpoint["optimizer"])
    if (checkpoint["scheduler"] is None) != (scheduler is None):
        raise ValueError("fit: resume: the checkpoint was written "
                         f"{'without' if scheduler is not None else 'with'} a scheduler")
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    if checkpoint["train_data"] is not None:
        if not hasattr(train_data, "load_state_dict"):
            raise ValueError("fit: resume: the checkpoint holds the training loader's state, "
                             f"but {type(train_data).__name__} has no load_state_dict")
        train_data.load_state_dict(checkpoint["train_data"])
    generator("cpu").bit_generator.state = checkpoint["random"]
    saved = checkpoint["callbacks"]
    if len(saved) != len(callbacks):
        raise ValueError(f"fit: resume: the checkpoint has the state of {len(saved)} callbacks, "
                         f"fit was given {len(callbacks)}")
    for cb, cb_state in zip(callbacks, saved):
        cb.load_state_dict(cb_state)
    restored = History.from_dict(checkpoint["history"])
    state.history.epochs, state.history.iteration_loss = restored.epochs, restored.iteration_loss
    return int(checkpoint["epoch"]), float(checkpoint["best_val"])
