"""RMSprop: divide each step by a running RMS of the gradient (``torch.optim.RMSprop``)."""
from __future__ import annotations

from ..backend import get_array_module
from .optimizer import Optimizer, check_hyperparameter


class RMSprop(Optimizer):
    """Root-mean-square propagation (Hinton's lecture 6e). With gradient g on each step:

        g = g + weight_decay * W                    (L2 penalty, when weight_decay > 0)
        v = alpha * v + (1 - alpha) * g * g         (running mean of g squared, starts at 0)
        rms = sqrt(v) + eps
        centered=True subtracts the squared running mean of g first:
            a = alpha * a + (1 - alpha) * g;  rms = sqrt(v - a * a) + eps
        W = W - lr * g / rms                        (momentum = 0)
        b = momentum * b + g / rms;  W = W - lr * b (momentum > 0, b starts at 0)

    state per parameter: "step", "square_avg" (v), plus "momentum_buffer" (b) when momentum > 0
    and "grad_avg" (a) when centered; arrays have W's shape.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                    "momentum": momentum, "centered": centered}
        super().__init__(params, defaults)

    def _check_hyperparameters(self, hyper: dict, where: str) -> None:
        super()._check_hyperparameters(hyper, where)
        check_hyperparameter(where, "alpha", hyper["alpha"], high=1.0)
        check_hyperparameter(where, "eps", hyper["eps"])
        check_hyperparameter(where, "momentum", hyper["momentum"])

    def _update(self, p, grad, group: dict) -> None:
        xp = get_array_module(p.data)
        alpha, mu = group["alpha"], group["momentum"]
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * p.data   # a new array: p.grad is left unchanged

        if p not in self.state:
            self.state[p] = {"step": 0, "square_avg": xp.zeros_like(p.data)}
        state = self.state[p]
        state["step"] += 1
        v = state["square_avg"]

        v[...] = alpha * v + (1 - alpha) * grad * grad
        if group["centered"]:
            if "grad_avg" not in state:
                state["grad_avg"] = xp.zeros_like(p.data)
            a = state["grad_avg"]
            a[...] = alpha * a + (1 - alpha) * grad
            rms = xp.sqrt(v - a * a) + group["eps"]
        else:
            rms = xp.sqrt(v) + group["eps"]

        if mu > 0:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = xp.zeros_like(p.data)
            b = state["momentum_buffer"]
            b[...] = mu * b + grad / rms
            p.data -= group["lr"] * b
        else:
            p.data -= group["lr"] * grad / rms
