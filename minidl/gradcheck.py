"""Gradient checking: analytic gradients against float64 central differences.

For a function f of tensors x_1..x_k, draw a fixed random cotangent v of f's output shape and
compare, for every element x_i[j],

    analytic   d<v, f>/dx_i[j]                         from backward()
    numerical  (<v, f(x + eps e_j)> - <v, f(x - eps e_j)>) / (2 eps)

An element passes when |analytic - numerical| <= atol + rtol |numerical|. Central differences
have error O(eps^2), so in float64 with eps = 1e-6 a correct backward agrees to about 1e-8.

When a whole model fails, ``gradcheck`` names the op to blame: ``check_ops`` replays every op of
the graph on its own, with the inputs it saw and the upstream gradient dL/d(output) that really
reached it in the backward pass, and compares that op's backward with central differences of
that op's forward alone. An op downstream of the bug receives a wrong upstream gradient but still
turns it correctly into input gradients, so only the faulty op fails its own check.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass

import numpy as np

from .backend import get_array_module, to_device
from .graph import grad_fn, op_name, tensors_in_forward_order
from .tensor import Tensor, no_grad, recording_ops, sum_to_shape


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
    bad_op: "OpCheck | None" = None    # on failure: the first op whose own backward is wrong

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        text = (f"gradcheck {verdict}: worst element is input {self.input_index}{list(self.element)}: "
                f"analytic {self.analytic:.10g} vs numerical {self.numerical:.10g} "
                f"(abs error {self.max_abs_error:.3g})")
        if not self.passed:
            text += ("\n  " + str(self.bad_op) if self.bad_op is not None else
                     "\n  every op's backward agrees with its own forward: look at the function itself "
                     "(a non-differentiable point, randomness, or state changed between calls)")
        return text


@dataclass
class OpCheck:
    """One op's backward, checked alone. ``position`` counts ops in forward order from 0."""
    op: str
    position: int
    num_ops: int
    input_shapes: list             # shape (None for an absent input) of each input
    output_shape: tuple
    passed: bool
    max_abs_error: float
    input_index: int               # the input holding the worst element (-1: nothing to check)
    element: tuple
    analytic: float
    numerical: float
    kinks: int = 0                 # elements skipped: left and right slopes differ (ReLU at 0, ties)

    def __str__(self) -> str:
        verdict = "agrees" if self.passed else "DISAGREES"
        shapes = ", ".join("None" if s is None else str(s) for s in self.input_shapes)
        return (f"op {self.position} (counting from 0 in forward order, of {self.num_ops}), {self.op}: inputs {shapes} -> "
                f"{self.output_shape}; its backward {verdict} with central differences, worst at "
                f"d/d(input {self.input_index}){list(self.element)}: analytic {self.analytic:.10g} vs "
                f"numerical {self.numerical:.10g} (abs error {self.max_abs_error:.3g})")


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0, raise_exception=True,
              locate=True) -> GradcheckResult:
    """Check the gradients of ``fn(*inputs)`` with respect to every input that requires grad.

    inputs must be float64 Tensors (float32 central differences are too coarse to trust).
    Every leaf's ``.grad`` (the inputs', a model's parameters') is left as it was.
    Returns the result for the worst element; raises GradcheckError on failure by default. On a
    failure with ``locate``, ``result.bad_op`` is the first op (in the order backward runs them)
    whose own backward disagrees with its forward (``check_ops``), and the message names it.
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
    leaves = [t for t in tensors_in_forward_order(out) if grad_fn(t) is None]
    leaves += [inputs[i] for i in checked if all(t is not inputs[i] for t in leaves)]
    kept = [t.grad for t in leaves]            # the caller's gradients, given back afterwards
    for i in checked:
        inputs[i].grad = None
    out.backward(v)
    analytic = {i: inputs[i].grad if inputs[i].grad is not None else xp.zeros_like(inputs[i].data)
                for i in checked}
    for t, g in zip(leaves, kept):
        t.grad = g

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
    if not worst.passed and locate:
        worst.bad_op = next((c for c in check_ops(fn, inputs, eps, atol, rtol, seed, stop_at_first=True)
                             if not c.passed), None)
    if not worst.passed and raise_exception:
        raise GradcheckError(str(worst))
    return worst


@contextlib.contextmanager
def _recording_ops():
    """Inside the block, remember each recorded op with the keyword options it was applied with
    (``Conv2d.apply(x, w, b, stride=1, ...)``), its input Tensors and its output: replaying an
    op's forward needs them, and the graph keeps only what backward reads.
    {id(function): (function, options, inputs, output)}."""
    recorded = {}

    def record(op, inputs, options, out):
        if grad_fn(out) is not None:
            recorded[id(grad_fn(out))] = (grad_fn(out), options, inputs, out)

    with recording_ops(record):
        yield recorded


def check_ops(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0, stop_at_first=False) -> list[OpCheck]:
    """Replay every op behind ``fn(*inputs)`` alone and check its backward, in the order the
    backward pass runs them (from the output back to the inputs).

    Each op gets the inputs it saw and the gradient that reached its output when backward ran
    with gradcheck's cotangent (same ``seed``); its forward is rerun on a fresh Function with the
    same options for central differences. An element where the slopes left and right of it differ
    (a kink: ReLU at 0, tied maxima in a pooling window) has no derivative and is skipped, counted
    in ``kinks``. Leaves' ``.grad`` are left as they were. With
    ``stop_at_first`` the list ends at the first op that fails.
    """
    with _recording_ops() as recorded:
        out = fn(*inputs)
    nodes = tensors_in_forward_order(out)
    ops = [grad_fn(t) for t in nodes if grad_fn(t) is not None]
    leaves = [t for t in nodes if grad_fn(t) is None]
    kept = [t.grad for t in leaves]
    for f in ops:
        recorded[id(f)][3].retain_grad()      # each op's output, held by the record
    v = get_array_module(out.data).asarray(np.random.default_rng(seed).standard_normal(out.shape))
    out.backward(v, retain_graph=True)
    checks = []
    for position in reversed(range(len(ops))):
        f, options, op_inputs, made = recorded[id(ops[position])]
        if made.grad is None:
            continue                          # no gradient reached this op
        checks.append(_check_op(f, options, op_inputs, made.grad, position, len(ops), eps, atol, rtol))
        if stop_at_first and not checks[-1].passed:
            break
    for t, g in zip(leaves, kept):
        t.grad = g
    return checks


def _check_op(f, options, inputs, upstream, position, num_ops, eps, atol, rtol) -> OpCheck:
    """f's backward(upstream) against central differences of <upstream, f.forward(inputs)>."""
    arrays = [None if x is None else x.data for x in inputs]

    def run(values):
        fresh = type(f)()
        fresh.needs_input_grad = f.needs_input_grad
        out = fresh.forward(*(None if a is None else a.copy() for a in values), **copy.deepcopy(options))
        return fresh, out

    fresh, out = run(arrays)
    grads = fresh.backward(upstream)
    g = to_device(upstream, "cpu")
    base, kinks = float((to_device(out, "cpu") * g).sum()), 0
    worst = dict(passed=True, max_abs_error=-1.0, input_index=-1, element=(), analytic=0.0, numerical=0.0)
    for i, needed in enumerate(f.needs_input_grad):
        if not needed:
            continue
        analytic = grads[i] if grads[i] is not None else 0 * arrays[i]
        analytic = to_device(sum_to_shape(analytic, arrays[i].shape), "cpu")
        for j in np.ndindex(*arrays[i].shape):
            sides = []
            for step in (eps, -eps):
                bumped = list(arrays)
                bumped[i] = arrays[i].copy()
                bumped[i][j] += step
                sides.append(float((to_device(run(bumped)[1], "cpu") * g).sum()))
            right, left = (sides[0] - base) / eps, (base - sides[1]) / eps
            if abs(right - left) > atol + rtol * max(abs(right), abs(left)):
                kinks += 1            # the slopes on either side differ: no derivative to check
                continue
            numerical = (sides[0] - sides[1]) / (2 * eps)
            a = float(analytic[j])
            err = abs(a - numerical)
            ok = err <= atol + rtol * abs(numerical)
            if (not ok and worst["passed"]) or (ok == worst["passed"] and err > worst["max_abs_error"]):
                worst = dict(passed=ok and worst["passed"], max_abs_error=err, input_index=i, element=j,
                             analytic=a, numerical=numerical)
    return OpCheck(op_name(f), position, num_ops, [None if a is None else tuple(a.shape) for a in arrays],
                   tuple(upstream.shape), kinks=kinks, **worst)
