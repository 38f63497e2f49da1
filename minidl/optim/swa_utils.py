"""Stochastic weight averaging (Izmailov et al. 2018), with PyTorch's names (torch.optim.swa_utils):

    swa_model = AveragedModel(model)
    for ...:                                 # late in training, every so many steps or epochs
        swa_model.update_parameters(model)   # W_swa <- W_swa + (W - W_swa) / (n + 1)
    update_bn(train_batches, swa_model)      # batch-norm statistics for the averaged weights
    swa_model(x)

SGD near the end of training wanders around a wide, flat region of the loss; the average of the
points it visits sits nearer that region's middle than any one of them, and tends to generalise
better. ``AveragedModel(model, avg_fn=get_ema_avg_fn(0.999))`` keeps an exponential moving
average instead (W_ema <- d W_ema + (1 - d) W, the recent snapshots weighing most), updated every
step. The averaged weights never saw a batch, so each BatchNorm's running statistics must be
recomputed for them: one pass over training data (update_bn).
"""
from __future__ import annotations

import copy

from ..nn.module import Module
from ..nn.normalization import BatchNorm1d, BatchNorm2d
from ..tensor import Tensor, no_grad


def get_ema_avg_fn(decay: float = 0.999):
    """avg_fn for an exponential moving average: (W_avg, W, n) -> decay W_avg + (1 - decay) W."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"get_ema_avg_fn: decay must lie in [0, 1], got {decay}")
    return lambda averaged, current, num_averaged: decay * averaged + (1 - decay) * current


class AveragedModel(Module):
    """A copy of ``model`` whose parameters are the running mean of the models given to
    update_parameters, or what ``avg_fn(W_avg, W, n)`` makes of each update (buffers too with
    ``use_buffers=True``; otherwise they stay as copied, for update_bn to set). The first update
    copies the weights. Calling it runs the copy; ``n_averaged`` counts the updates."""

    def __init__(self, model: Module, avg_fn=None, use_buffers: bool = False):
        super().__init__()
        self.module = copy.deepcopy(model)
        self.avg_fn = avg_fn
        self.use_buffers = use_buffers
        self.n_averaged = 0

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current weights into the average: W_swa <- W_swa + (W - W_swa) / (n + 1),
        or avg_fn's."""
        mine, theirs = list(self.module.parameters()), list(model.parameters())
        if len(mine) != len(theirs) or any(a.shape != b.shape for a, b in zip(mine, theirs)):
            raise ValueError("AveragedModel.update_parameters: the model's parameters do not match "
                             "the averaged copy's (another architecture?)")
        pairs = [(a.data, b.data) for a, b in zip(mine, theirs)]
        if self.use_buffers:
            pairs += [(a, b) for (_, a), (_, b) in zip(self.module.named_buffers(), model.named_buffers())
                      if a is not None and a.dtype.kind == "f"]
        n = self.n_averaged
        for avg, new in pairs:
            if n == 0:
                avg[...] = new
            elif self.avg_fn is not None:
                avg[...] = self.avg_fn(avg, new, n)
            else:
                avg += (new - avg) / (n + 1)
        self.n_averaged += 1


def update_bn(loader, model: Module) -> None:
    """Recompute every BatchNorm's running mean and variance for ``model``'s current weights: one
    pass over ``loader`` (batches x, or (x, y) pairs) in training mode without gradients, each
    layer's statistics the cumulative average over the batches (momentum None meanwhile). The
    layers' momentum and the model's train/eval mode are put back after."""
    layers = [m for m in model.modules() if isinstance(m, (BatchNorm1d, BatchNorm2d))
              and m.track_running_stats and not m.frozen_stats]
    if not layers:
        return
    saved = [(m.momentum, m.num_batches_tracked) for m in layers]
    for m in layers:
        m.running_mean[...] = 0
        m.running_var[...] = 1
        m.momentum, m.num_batches_tracked = None, 0
    was_training = model.training
    model.train()
    try:
        with no_grad():
            for batch in loader:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                model(x if isinstance(x, Tensor) else Tensor(x))
    finally:
        for m, (momentum, tracked) in zip(layers, saved):
            m.momentum, m.num_batches_tracked = momentum, tracked
        model.train(was_training)
