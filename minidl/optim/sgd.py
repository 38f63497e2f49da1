"""Stochastic gradient descent, optionally with momentum (PyTorch's ``torch.optim.SGD``)."""
from __future__ import annotations

from .optimizer import Optimizer, check_hyperparameter


class SGD(Optimizer):
    """Gradient descent on each mini-batch's gradient g = dL/dW.

    Plain (momentum=0), the lecture's rule:
        W = W - lr * g
    L2 weight decay adds the gradient of (weight_decay / 2) * ||W||^2 to g:
        g = g + weight_decay * W
    With momentum mu, a velocity b accumulates past gradients (b = g on the first step):
        b = mu * b + (1 - dampening) * g
        W = W - lr * b                     (classical momentum)
        W = W - lr * (g + mu * b)          (nesterov=True: look one step ahead)

    state per parameter: "momentum_buffer" (b, same shape as W), only when momentum > 0.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov}
        super().__init__(params, defaults)

    def _check_hyperparameters(self, hyper: dict, where: str) -> None:
        super()._check_hyperparameters(hyper, where)
        check_hyperparameter(where, "momentum", hyper["momentum"])
        check_hyperparameter(where, "dampening", hyper["dampening"], high=1.0)
        if hyper["nesterov"] and (hyper["momentum"] <= 0 or hyper["dampening"] != 0):
            raise ValueError(f"{where}: nesterov=True needs momentum > 0 and dampening = 0, got "
                             f"momentum={hyper['momentum']!r}, dampening={hyper['dampening']!r}")

    def _update(self, p, grad, group: dict) -> None:
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd != 0:
            grad = grad + wd * p.data          # a new array: p.grad itself is left unchanged
        if mu != 0:
            state = self.state.setdefault(p, {})
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.astype(p.data.dtype, copy=True)
            else:
                buf = state["momentum_buffer"]
                buf[...] = mu * buf + (1 - group["dampening"]) * grad
            buf = state["momentum_buffer"]
            grad = grad + mu * buf if group["nesterov"] else buf
        p.data -= lr * grad
