"""Gradient checking: analytic gradients against float64 central differences.

For a function f of tensors x_1..x_k, draw a fixed random cotangent v of f's output shape and
compare, for every element x_i[j],

    analytic   d<v, f>/dx_i[j]                         from backward()
    numerical  (<v, f(x + eps e_j)> - <v, f(x - eps e_j)>) / (2 eps)

An element passes when |analytic - numerical| <= atol + rtol |numerical|. Central differences
have error O(eps^2), so in float64 with eps = 1e-6 a correct backward agrees to about 1e-8.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backend import get_array_module
from .tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with the numerical one."""


@dataclass
class GradcheckResult:
    passed: bool
    max_abs_error: float
    input_index: int           # which input holds the worst element
    element: tuple             # its index in that input
    analytic: float
    numerical: float

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (f"gradcheck {verdict}: worst element is input {self.input_index}{list(self.element)}: "
                f"analytic {self.analytic:.10g} vs numerical {self.numerical:.10g} "
                f"(abs error {self.max_abs_error:.3g})")


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0, raise_exception=True) -> GradcheckResult:
    """Check the gradients of ``fn(*inputs)`` with respect to every input that requires grad.

    inputs must be float64 Tensors (float32 central differences are too coarse to trust).
    Returns the result for the worst element; raises GradcheckError on failure by default.
    """
    inputs = list(inputs)
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {x.dtype}; use float64 tensors")
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")

    out = fn(*inputs)
    xp = get_array_module(out.data)
    v = xp.asarray(np.random.default_rng(seed).standard_normal(out.shape))
    for i in checked:
        inputs[i].grad = None
    out.backward(v)
    analytic = {i: inputs[i].grad if inputs[i].grad is not None else xp.zeros_like(inputs[i].data)
                for i in checked}

    def project() -> float:
        with no_grad():
            return float((fn(*inputs).data * v).sum())

    worst = GradcheckResult(True, -1.0, checked[0], (), 0.0, 0.0)
    for i in checked:
        data = inputs[i].data
        for j in np.ndindex(*data.shape):
            saved = float(data[j])
            data[j] = saved + eps
            plus = project()
            data[j] = saved - eps
            minus = project()
            data[j] = saved
            numerical = (plus - minus) / (2 * eps)
            a = float(analytic[i][j])
            err = abs(a - numerical)
            ok = err <= atol + rtol * abs(numerical)
            if (not ok and worst.passed) or (ok == worst.passed and err > worst.max_abs_error):
                worst = GradcheckResult(ok and worst.passed, err, i, j, a, numerical)
    if not worst.passed and raise_exception:
        raise GradcheckError(str(worst))
    return worst
