"""Adam: momentum plus a per-weight step size (PyTorch's ``torch.optim.Adam``)."""
from __future__ import annotations

from ..backend import get_array_module
from .optimizer import Optimizer, check_hyperparameter


class Adam(Optimizer):
    """Adaptive moment estimation (Kingma & Ba, 2015). On step t = 1, 2, ... with gradient g:

        g = g + weight_decay * W                   (L2 penalty, when weight_decay > 0)
        m = beta1 * m + (1 - beta1) * g            (running mean of g)
        v = beta2 * v + (1 - beta2) * g * g        (running mean of g squared)
        m_hat = m / (1 - beta1**t)                 (bias correction: m and v start at 0,
        v_hat = v / (1 - beta2**t)                  so early averages are too small)
        W = W - lr * m_hat / (sqrt(v_hat) + eps)

    amsgrad=True divides by the largest v_hat seen so far instead (Reddi et al., 2018).

    state per parameter: "step" (t), "exp_avg" (m), "exp_avg_sq" (v), and "max_exp_avg_sq"
    (the running maximum of v) with amsgrad; arrays have W's shape.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad}
        super().__init__(params, defaults)

    def _check_hyperparameters(self, hyper: dict, where: str) -> None:
        super()._check_hyperparameters(hyper, where)
        check_hyperparameter(where, "eps", hyper["eps"])
        betas = hyper["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
        for k, beta in enumerate(betas):
            check_hyperparameter(where, f"beta{k + 1}", beta, high=1.0, high_inclusive=False)

    def _update(self, p, grad, group: dict) -> None:
        xp = get_array_module(p.data)
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if wd != 0:
            grad = grad + wd * p.data          # a new array: p.grad itself is left unchanged

        if p not in self.state:
            self.state[p] = {"step": 0, "exp_avg": xp.zeros_like(p.data),
                             "exp_avg_sq": xp.zeros_like(p.data)}
        state = self.state[p]
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]

        m[...] = beta1 * m + (1 - beta1) * grad
        v[...] = beta2 * v + (1 - beta2) * grad * grad
        if group["amsgrad"]:
            if "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = xp.zeros_like(p.data)
            v_max = state["max_exp_avg_sq"]
            xp.maximum(v_max, v, out=v_max)
            v = v_max
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        p.data -= lr * m_hat / (xp.sqrt(v_hat) + eps)
