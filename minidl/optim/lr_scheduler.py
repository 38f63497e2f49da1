"""Learning-rate schedules (PyTorch's ``torch.optim.lr_scheduler``), stepped per epoch or per
iteration: a schedule only counts its step() calls.

    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(90):
        train_one_epoch(model, opt)
        sched.step()

    sched = CosineAnnealingLR(opt, T_max=epochs * len(loader))   # per iteration:
    for x, y in loader:                                            # step() after every
        ...; opt.step(); sched.step()                              # optimizer step

(minidl.train.fit does either: scheduler_interval="epoch" or "step".)

A schedule scales each parameter group's own starting lr, which it records in the group as
"initial_lr"; a transfer-learning setup with lr 1e-3 on the body and 1e-2 on the head keeps that
10x ratio all along the schedule. Each epoch's lr is computed in closed form from "initial_lr",
so setting group["lr"] by hand is overwritten at the next step(). ``last_epoch`` is PyTorch's
name for the number of step() calls so far; below, "epoch" means one such step.
"""
from __future__ import annotations

import math
import numbers

from .optimizer import Optimizer, plain_value


class LRScheduler:
    """Base class: sets every group's lr to ``get_lr()`` for the epoch count ``last_epoch``.

    last_epoch  the index of the last finished epoch; -1 starts a fresh schedule (the groups'
                current lr becomes their "initial_lr"); a larger value resumes one, which needs
                "initial_lr" in every group already
    base_lrs    each group's "initial_lr"
    """

    _hyperparameters: tuple[str, ...] = ()   # the names a subclass adds to state_dict()

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")
        if (isinstance(last_epoch, bool) or not isinstance(last_epoch, numbers.Integral)
                or last_epoch < -1):
            raise ValueError(f"{name}: last_epoch must be an int >= -1, got {last_epoch!r}")
        self.optimizer = optimizer
        for g, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{name}: resuming at last_epoch={last_epoch} needs 'initial_lr' in "
                               f"param group {g}; load the optimizer's state_dict first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()   # sets the lr of epoch last_epoch + 1 (epoch 0 for a fresh schedule)

    def get_lr(self) -> list[float]:
        """The lr of every group at epoch ``self.last_epoch``."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_lr()")

    def step(self) -> None:
        """Advance one epoch and write the new lr into every parameter group."""
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            raise ValueError(f"{type(self).__name__}: the optimizer has {len(groups)} parameter "
                             f"groups but the schedule was made for {len(self.base_lrs)}; create "
                             f"the scheduler after the last add_param_group()")
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The lr that the last step() set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Where the schedule is (not the optimizer: save and load that separately)."""
        state = {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs),
                 "_last_lr": list(self._last_lr)}
        state.update({name: getattr(self, name) for name in self._hyperparameters})
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Resume a schedule: restores the epoch count and writes its last lr into the groups,
        whether the optimizer's own state_dict was loaded before or after."""
        name = type(self).__name__
        expected = {"last_epoch", "base_lrs", "_last_lr", *self._hyperparameters}
        if set(state_dict) != expected:
            raise ValueError(f"{name}.load_state_dict: expected keys {sorted(expected)}, "
                             f"got {sorted(state_dict)}")
        groups = len(self.optimizer.param_groups)
        if len(state_dict["base_lrs"]) != groups:
            raise ValueError(f"{name}.load_state_dict: the state dict has "
                             f"{len(state_dict['base_lrs'])} base lrs, the optimizer has "
                             f"{groups} parameter groups")
        self.last_epoch = int(state_dict["last_epoch"])
        self.base_lrs = [float(lr) for lr in state_dict["base_lrs"]]
        self._last_lr = [float(lr) for lr in state_dict["_last_lr"]]
        for hyper in self._hyperparameters:
            setattr(self, hyper, plain_value(state_dict[hyper]))
        for group, base_lr, lr in zip(self.optimizer.param_groups, self.base_lrs, self._last_lr):
            group["initial_lr"] = base_lr
            group["lr"] = lr   # creating this scheduler reset it to the epoch-0 lr


class StepLR(LRScheduler):
    """Multiply the lr by gamma every ``step_size`` epochs:

        lr(epoch) = initial_lr * gamma ** (epoch // step_size)
    """

    _hyperparameters = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        if (isinstance(step_size, bool) or not isinstance(step_size, numbers.Integral)
                or step_size < 1):
            raise ValueError(f"StepLR: step_size must be a positive int, got {step_size!r}")
        if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not gamma > 0:
            raise ValueError(f"StepLR: gamma must be a number > 0, got {gamma!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size)
                for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Follow half a cosine from initial_lr down to eta_min over ``T_max`` epochs (SGDR without
    restarts, Loshchilov & Hutter, 2017):

        lr(epoch) = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    After T_max epochs the cosine climbs back up, as in PyTorch; usually T_max = the epoch count.
    """

    _hyperparameters = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        if isinstance(T_max, bool) or not isinstance(T_max, numbers.Integral) or T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive int, got {T_max!r}")
        if isinstance(eta_min, bool) or not isinstance(eta_min, numbers.Real) or not eta_min >= 0:
            raise ValueError(f"CosineAnnealingLR: eta_min must be a number >= 0, got {eta_min!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base_lr - self.eta_min) * cosine for base_lr in self.base_lrs]
