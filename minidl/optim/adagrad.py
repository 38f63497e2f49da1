"""Adagrad: each weight's step shrinks with its own gradient history (``torch.optim.Adagrad``)."""
from __future__ import annotations

from ..backend import get_array_module
from .optimizer import Optimizer, check_hyperparameter


class Adagrad(Optimizer):
    """Adaptive gradient (Duchi et al., 2011). On step t = 1, 2, ... with gradient g:

        g = g + weight_decay * W                     (L2 penalty, when weight_decay > 0)
        G = G + g * g                                (sum of squared gradients, starts at
                                                      initial_accumulator_value)
        lr_t = lr / (1 + (t - 1) * lr_decay)
        W = W - lr_t * g / (sqrt(G) + eps)

    Weights with large past gradients take small steps, rarely-updated weights large ones.
    state per parameter: "step" (t) and "sum" (G, same shape as W).
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10):
        defaults = {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "eps": eps}
        super().__init__(params, defaults)

    def _check_hyperparameters(self, hyper: dict, where: str) -> None:
        super()._check_hyperparameters(hyper, where)
        check_hyperparameter(where, "lr_decay", hyper["lr_decay"])
        check_hyperparameter(where, "initial_accumulator_value", hyper["initial_accumulator_value"])
        check_hyperparameter(where, "eps", hyper["eps"])

    def _update(self, p, grad, group: dict) -> None:
        xp = get_array_module(p.data)
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * p.data   # a new array: p.grad is left unchanged

        if p not in self.state:
            self.state[p] = {"step": 0,
                             "sum": xp.full_like(p.data, group["initial_accumulator_value"])}
        state = self.state[p]
        state["step"] += 1
        G = state["sum"]

        G += grad * grad
        lr_t = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        p.data -= lr_t * grad / (xp.sqrt(G) + group["eps"])
