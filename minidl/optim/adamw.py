"""AdamW: Adam with decoupled weight decay (PyTorch's ``torch.optim.AdamW``)."""
from __future__ import annotations

from .adam import Adam


class AdamW(Adam):
    """Adam whose weight decay shrinks the weights directly instead of joining the gradient
    (Loshchilov & Hutter, 2019). On each step, before Adam's update with the plain gradient g:

        W = W - lr * weight_decay * W

    so the decay is not rescaled by Adam's 1 / sqrt(v_hat). PyTorch's default weight_decay=1e-2.
    State per parameter as Adam's.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)

    def _update(self, p, grad, group: dict) -> None:
        if group["weight_decay"] != 0:
            p.data *= 1 - group["lr"] * group["weight_decay"]
        super()._update(p, grad, dict(group, weight_decay=0.0))
