"""Sharpness-aware minimisation (Foret et al., 2021) around any optimizer.

A plain step follows the gradient at the weights W. SAM first climbs to the worst point of a
small ball around them, then steps from W with the gradient found there, so it prefers minima
whose neighbourhood is low too (flat minima, which tend to generalise better):

    e   = rho * g / ||g||          g = dL/dW at W on this batch, ||.|| over every parameter
    g'  = dL/dW at W + e           the same batch, a second forward and backward
    W   = base_rule(W, g')         the wrapped optimizer's step (momentum, weight decay, ...)

Each step costs two forward and backward passes. The second pass needs the batch again, so
``step`` takes a closure that recomputes the loss, as PyTorch's optimizers do:

    opt = optim.SAM(optim.SGD(model.parameters(), lr=0.1, momentum=0.9), rho=0.05)
    loss_fn(model(x), y).backward()                    # g at W
    opt.step(lambda: loss_fn(model(x), y).backward())  # g' at W + e, then the SGD step

``minidl.train.train_step`` passes that closure itself. The wrapped optimizer's parameter groups
and state are SAM's own (the same objects), so schedules and state_dict work as for it.
Batch-norm layers update their running statistics in both passes.
"""
from __future__ import annotations

import math

from .optimizer import Optimizer, check_hyperparameter


class SAM(Optimizer):
    """base  the optimizer whose rule takes the step (its groups and state are shared)
    rho   the radius of the ball searched for the worst point, in the weights' units"""

    needs_closure = True

    def __init__(self, base: Optimizer, rho: float = 0.05):
        if not isinstance(base, Optimizer):
            raise TypeError(f"SAM: base must be an optimizer (minidl.optim.SGD, ...), got {type(base).__name__}")
        check_hyperparameter("SAM", "rho", rho)
        self.base, self.rho = base, float(rho)
        self.defaults, self.param_groups, self.state = base.defaults, base.param_groups, base.state

    def step(self, closure=None):
        """The SAM step from the gradients already in .grad; ``closure`` must zero them, rerun
        the forward and backward pass on the same batch and may return the loss (returned)."""
        if closure is None:
            raise ValueError("SAM.step needs a closure that recomputes the loss and calls backward(): "
                             "the gradient is taken a second time at the perturbed weights")
        params = [p for group in self.param_groups for p in group["params"]
                  if p.requires_grad and p.grad is not None]
        norm = math.sqrt(sum(float((p.grad * p.grad).sum()) for p in params))
        scale = self.rho / norm if norm > 0 else 0.0
        climbs = []
        for p in params:                            # W + e, e = rho g / ||g||
            e = scale * p.grad
            p.data += e
            climbs.append(e)
        self.base.zero_grad()
        loss = closure()                            # g' at W + e
        for p, e in zip(params, climbs):
            p.data -= e
        self.base.step()
        return loss

    def add_param_group(self, param_group: dict) -> None:
        self.base.add_param_group(param_group)      # checked by the wrapped optimizer's rules

    def state_dict(self) -> dict:
        return self.base.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        self.base.load_state_dict(state_dict)
