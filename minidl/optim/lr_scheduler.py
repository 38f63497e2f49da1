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

import bisect
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


def _check_gamma(name, gamma):
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not gamma > 0:
        raise ValueError(f"{name}: gamma must be a number > 0, got {gamma!r}")


class MultiStepLR(LRScheduler):
    """Multiply the lr by gamma at each milestone epoch:

        lr(epoch) = initial_lr * gamma ** (number of milestones <= epoch)
    """

    _hyperparameters = ("milestones", "gamma")

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        milestones = tuple(milestones)
        if not milestones or any(isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 0
                                 for m in milestones):
            raise ValueError(f"MultiStepLR: milestones must be ints >= 0, got {milestones!r}")
        _check_gamma("MultiStepLR", gamma)
        self.milestones, self.gamma = tuple(sorted(int(m) for m in milestones)), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        passed = bisect.bisect_right(self.milestones, self.last_epoch)
        return [base_lr * self.gamma ** passed for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by gamma every epoch: lr(epoch) = initial_lr * gamma ** epoch."""

    _hyperparameters = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        _check_gamma("ExponentialLR", gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    """Linear warm-up (or decay) of a factor over ``total_iters`` steps, then constant:

        lr(epoch) = initial_lr * (start_factor + (end_factor - start_factor) min(epoch, total_iters) / total_iters)
    """

    _hyperparameters = ("start_factor", "end_factor", "total_iters")

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if not (isinstance(start_factor, numbers.Real) and 0 < start_factor <= 1):
            raise ValueError(f"LinearLR: start_factor must lie in (0, 1], got {start_factor!r}")
        if not (isinstance(end_factor, numbers.Real) and 0 <= end_factor <= 1):
            raise ValueError(f"LinearLR: end_factor must lie in [0, 1], got {end_factor!r}")
        if isinstance(total_iters, bool) or not isinstance(total_iters, numbers.Integral) or total_iters < 1:
            raise ValueError(f"LinearLR: total_iters must be a positive int, got {total_iters!r}")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        done = min(self.last_epoch, self.total_iters) / self.total_iters
        factor = self.start_factor + (self.end_factor - self.start_factor) * done
        return [base_lr * factor for base_lr in self.base_lrs]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2019), stepped once per batch, PyTorch's definition:
    the lr climbs from max_lr / div_factor to max_lr over the first pct_start of total_steps,
    then anneals to max_lr / div_factor / final_div_factor at step total_steps - 1
    (three_phase: up, back down to the start, then to the minimum). Each phase goes from a to b
    by  b + (a - b)(1 + cos(pi t)) / 2  ('cos') or  a + (b - a) t  ('linear'), t in [0, 1].
    With cycle_momentum the momentum (or Adam's beta1) moves the other way, between
    max_momentum and base_momentum. total_steps = epochs * steps_per_epoch if not given.
    """

    _hyperparameters = ("total_steps", "phases", "anneal_strategy", "cycle_momentum",
                        "group_values")

    def __init__(self, optimizer: Optimizer, max_lr, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float = 0.85, max_momentum: float = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False, last_epoch: int = -1):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
            total_steps = epochs * steps_per_epoch
        if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral) or total_steps < 1:
            raise ValueError(f"OneCycleLR: total_steps must be a positive int, got {total_steps!r}")
        if not (isinstance(pct_start, numbers.Real) and 0 <= pct_start <= 1):
            raise ValueError(f"OneCycleLR: pct_start must lie in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        groups = optimizer.param_groups if isinstance(optimizer, Optimizer) else []
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
        if len(max_lrs) != len(groups):
            raise ValueError(f"OneCycleLR: {len(max_lrs)} max_lr values for {len(groups)} parameter groups")
        if cycle_momentum and groups and not all("momentum" in g or "betas" in g for g in groups):
            raise ValueError("OneCycleLR: cycle_momentum=True needs an optimizer with momentum or betas")
        self.total_steps, self.anneal_strategy, self.cycle_momentum = total_steps, anneal_strategy, cycle_momentum
        up = float(pct_start * total_steps) - 1
        self.phases = ((up, "initial", "max"), (float(2 * pct_start * total_steps) - 2, "max", "initial"), (total_steps - 1, "initial", "min")) \
            if three_phase else ((up, "initial", "max"), (total_steps - 1, "max", "min"))
        # per group: lr at the start, peak and end; momentum at the peak of the lr and at its ends
        self.group_values = tuple(
            (m / div_factor, m, m / div_factor / final_div_factor, base_momentum, max_momentum)
            for m in max_lrs)
        if last_epoch == -1:
            for group, values in zip(groups, self.group_values):
                group["initial_lr"] = values[0]
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start, end, t):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2 * (math.cos(math.pi * t) + 1)
        return start + (end - start) * t

    def _at(self, values, step):
        """(lr, momentum) of one group at ``step``: the phase holding it, interpolated."""
        lr_of = {"initial": values[0], "max": values[1], "min": values[2]}
        momentum_of = {"initial": values[4], "max": values[3], "min": values[4]}
        start = 0.0
        for i, (end, a, b) in enumerate(self.phases):
            if step <= end or i == len(self.phases) - 1:
                t = (step - start) / (end - start) if end != start else 1.0
                return (self._anneal(lr_of[a], lr_of[b], t),
                        self._anneal(momentum_of[a], momentum_of[b], t))
            start = end
        raise AssertionError("unreachable: the last phase takes every step")

    def get_lr(self) -> list[float]:
        if self.last_epoch > self.total_steps:      # PyTorch's bound: total_steps steps are allowed
            raise ValueError(f"OneCycleLR: stepped {self.last_epoch} times, more than "
                             f"total_steps={self.total_steps}")
        lrs = []
        for group, values in zip(self.optimizer.param_groups, self.group_values):
            lr, momentum = self._at(values, self.last_epoch)
            if self.cycle_momentum:
                if "betas" in group:
                    group["betas"] = (momentum, *group["betas"][1:])
                else:
                    group["momentum"] = momentum
            lrs.append(lr)
        return lrs
