"""The Optimizer base class: parameter groups, per-parameter state, step() and state_dict().

An optimizer owns a list of parameter groups. Each group is a dict holding its parameters under
"params" and its own copy of every hyper-parameter, so transfer learning can give the copied
layers a small learning rate and the new head a ~10x larger one:

    opt = SGD([{"params": body.parameters(), "lr": 1e-3},
               {"params": head.parameters()}],          # falls back to lr=1e-2 below
              lr=1e-2, momentum=0.9)
    opt.param_groups[1]["lr"] = 5e-3                    # schedules change lr like this

A subclass only writes ``_update(p, grad, group)``, the rule that moves one parameter. Updates
happen in place on ``p.data``, so every holder of the parameter (its layer, a second model
sharing it) sees the new values, and use ``xp = get_array_module(p.data)`` so they run on NumPy
and on CuPy arrays alike.
"""
from __future__ import annotations

import copy
import math
import numbers

import numpy as np

from ..backend import device_of, to_device
from ..tensor import Tensor


def check_hyperparameter(where: str, name: str, value, low: float = 0.0, high: float = math.inf,
                         high_inclusive: bool = True) -> None:
    """Raise unless ``value`` is a real number with low <= value <= high (or < high)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {value!r} "
                        f"of type {type(value).__name__}")
    ok = low <= value and (value <= high if high_inclusive else value < high)
    if not ok:
        upper = "" if high == math.inf else f" and {'<=' if high_inclusive else '<'} {high}"
        raise ValueError(f"{where}: invalid {name} {value!r} (expected >= {low}{upper})")


class Optimizer:
    """Base class of every optimizer (PyTorch's ``torch.optim.Optimizer`` interface).

    params    an iterable of Parameters, or of dicts (parameter groups) with a "params" entry and
              any hyper-parameters that override ``defaults`` for that group
    defaults  the hyper-parameters a group falls back to, e.g. {"lr": 0.1, "momentum": 0.9}

    param_groups  list of dicts: {"params": [Parameter, ...], "lr": ..., ...}
    state         dict Parameter -> dict of that parameter's running arrays (momentum buffers,
                  moment estimates, step counts); a parameter gets state on its first update
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self._check_hyperparameters(self.defaults, type(self).__name__)
        self.state: dict = {}
        self.param_groups: list[dict] = []

        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Parameters or "
                            f"dicts, got a single Tensor; wrap it in a list: [param]")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Append a group; hyper-parameters it does not name are taken from ``defaults``.

        Useful for transfer learning: unfreeze the body later and add it with its own lr.
        """
        where = f"{type(self).__name__} param group {len(self.param_groups)}"
        if not isinstance(param_group, dict):
            raise TypeError(f"{where}: a parameter group must be a dict with a 'params' entry, "
                            f"got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{where}: a parameter group needs a 'params' entry")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{where}: params must be an ordered sequence (a list), not a set: "
                            f"the order of parameters must be the same from run to run")
        else:
            params = list(params)
        if not params:
            raise ValueError(f"{where}: the group has no parameters")

        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{where}: can only optimize Tensors, but parameter {i} is a "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{where}: parameter {i} is not a leaf Tensor (it was computed "
                                 f"from others); optimize the tensors you created instead")
        ids_here = [id(p) for p in params]
        if len(set(ids_here)) != len(ids_here):
            raise ValueError(f"{where}: a parameter appears twice in the same group")
        ids_before = {id(p) for group in self.param_groups for p in group["params"]}
        if ids_before.intersection(ids_here):
            raise ValueError(f"{where}: some parameters appear in more than one parameter group")

        group = dict(param_group)
        group["params"] = params
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._check_hyperparameters(group, where)
        self.param_groups.append(group)

    def _check_hyperparameters(self, hyper: dict, where: str) -> None:
        """Raise if a hyper-parameter in ``hyper`` is out of range; subclasses add their rules."""
        check_hyperparameter(where, "lr", hyper["lr"])
        if "weight_decay" in hyper:
            check_hyperparameter(where, "weight_decay", hyper["weight_decay"])

    # ----- training ---------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients before the next backward(): set .grad to None (or fill it with 0)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self, closure=None):
        """Update every parameter that has a gradient; frozen ones (requires_grad False) and
        ones without a gradient (grad None) are left as they are and get no state.

        closure  optional function that recomputes the loss (zero_grad, forward, backward) and
                 returns it; step() calls it first and returns its value
        """
        loss = closure() if closure is not None else None
        for g, group in enumerate(self.param_groups):
            for i, p in enumerate(group["params"]):
                if not p.requires_grad or p.grad is None:
                    continue
                grad = p.grad
                if tuple(grad.shape) != tuple(p.data.shape):
                    raise ValueError(f"{type(self).__name__}: parameter {i} of group {g} has shape "
                                     f"{tuple(p.data.shape)} but its grad has shape "
                                     f"{tuple(grad.shape)}")
                if device_of(grad) != device_of(p.data):
                    raise ValueError(f"{type(self).__name__}: parameter {i} of group {g} is on "
                                     f"{device_of(p.data)} but its grad is on {device_of(grad)}")
                self._update(p, grad, group)
        return loss

    def _update(self, p: Tensor, grad, group: dict) -> None:
        """Move one parameter in place, given its gradient and its group's hyper-parameters."""
        raise NotImplementedError(f"{type(self).__name__} must implement _update(p, grad, group)")

    # ----- saving and resuming ------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The optimizer's state as plain data, with parameters referred to by index.

        {"state": {index: {name: array or number}},
         "param_groups": [{"params": [indices], "lr": ..., ...}, ...]}
        Indices count through all groups in order (group 0 holds 0..n0-1, group 1 the next...).
        Arrays are copies, so the snapshot does not change when training goes on.
        """
        index_of = {}
        packed_groups = []
        for group in self.param_groups:
            packed = {name: copy.deepcopy(value) for name, value in group.items() if name != "params"}
            packed["params"] = []
            for p in group["params"]:
                index_of[id(p)] = len(index_of)
                packed["params"].append(index_of[id(p)])
            packed_groups.append(packed)
        packed_state = {index_of[id(p)]: {name: _copy_value(value) for name, value in s.items()}
                        for p, s in self.state.items()}
        return {"state": packed_state, "param_groups": packed_groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state_dict() taken from an optimizer of the same kind over parameters of the
        same shapes, grouped the same way. Arrays are copied onto each parameter's device and
        dtype; the current parameters are kept, the saved hyper-parameters replace the current."""
        name = type(self).__name__
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise ValueError(f"{name}.load_state_dict: missing key {key!r}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(saved_groups)} "
                             f"parameter groups, the optimizer has {len(self.param_groups)}")
        params = []
        for g, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: group {g} has {len(saved['params'])} "
                                 f"parameters in the state dict, {len(group['params'])} in the "
                                 f"optimizer")
            params.extend(zip((int(i) for i in saved["params"]), group["params"]))
        param_at = dict(params)

        new_state = {}
        for index, saved_state in state_dict["state"].items():
            index = int(index)
            if index not in param_at:
                raise ValueError(f"{name}.load_state_dict: state for parameter index {index}, "
                                 f"which no group lists")
            p = param_at[index]
            new_state[p] = {key: _restore_value(value, p, f"{name}.load_state_dict: state "
                                                           f"{key!r} of parameter {index}")
                            for key, value in saved_state.items()}

        new_groups = []
        for g, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            restored = {key: plain_value(value) for key, value in saved.items() if key != "params"}
            restored["params"] = group["params"]
            for key, default in self.defaults.items():   # a key saved by an older version
                restored.setdefault(key, default)
            self._check_hyperparameters(restored, f"{name}.load_state_dict: param group {g}")
            new_groups.append(restored)
        self.state = new_state
        self.param_groups = new_groups

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for g, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {g}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        lines.append(")")
        return "\n".join(lines)


def plain_value(value):
    """A hyper-parameter as Python data again after a trip through a file, where np.savez made
    numbers into 0-d arrays and tuples (betas) into 1-d arrays; other values are deep-copied."""
    if isinstance(value, np.ndarray):
        return value.item() if value.ndim == 0 else tuple(value.tolist())
    return copy.deepcopy(value)


def _copy_value(value):
    """A copy of an array (NumPy or CuPy); numbers are returned as they are."""
    return value.copy() if hasattr(value, "shape") and hasattr(value, "copy") else value


def _restore_value(value, p: Tensor, where: str):
    """A saved state entry, made ready for parameter ``p``: arrays are copied to p's device and,
    when floating point, to p's dtype; their shape must equal p's shape. A 0-d array (a number
    that went through a file) becomes a Python number again."""
    if not hasattr(value, "shape"):
        return value
    if value.ndim == 0:
        return value.item()
    if tuple(value.shape) != tuple(p.data.shape):
        raise ValueError(f"{where} has shape {tuple(value.shape)}, the parameter has shape "
                         f"{tuple(p.data.shape)}")
    array = to_device(value, device_of(p.data))
    dtype = p.data.dtype if np.issubdtype(array.dtype, np.floating) else array.dtype
    return array.astype(dtype, copy=True)
