"""Tracing a model for export: run it once, in eval mode and without a graph, and record every op.

    t = trace(model, example)     # example (N, C, H, W) array or Tensor
    t.steps                       # [Step(op class, input Tensors, options, output Tensor), ...]
    t.names                       # id(parameter or buffer array) -> its state-dict name

Every op of minidl.functional goes through ``Function.apply``, which, inside
``minidl.tensor.recording_ops``, reports its class, its input Tensors, its keyword options
(stride, axis, running statistics, ...) and its output. That is the whole forward pass as the
model computed it -- residual adds, concatenations and the code in forward() included -- so no
module needs an exporter of its own. The trace keeps every Tensor it saw alive, so an ``id``
names one tensor for the whole trace.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..tensor import Tensor, no_grad, recording_ops

__all__ = ["Step", "Trace", "trace"]


class Step(NamedTuple):
    """One recorded op: ``op`` its Function class, ``inputs`` its Tensors (None for a missing
    optional input), ``options`` its keyword arguments, ``output`` the Tensor it made."""
    op: type
    inputs: tuple
    options: dict
    output: Tensor


class Trace(NamedTuple):
    """The recorded forward pass of ``model(input)``: steps in execution order, the input and
    output Tensors (outputs: one, or several for a model returning a tuple), and the state-dict
    name of every parameter and buffer by the id of its Tensor or array."""
    steps: list
    input: Tensor
    outputs: tuple
    names: dict
    keep: list


def state_names(model) -> dict[int, str]:
    """id(Parameter) or id(buffer array) -> its state-dict name ('features.0.weight')."""
    names = {id(p): name for name, p in model.named_parameters()}
    names.update((id(b), name) for name, b in model.named_buffers() if b is not None)
    return names


def trace(model, example) -> Trace:
    """Run ``model`` once on ``example`` (an array or Tensor, float32 like the weights) in eval
    mode, recording every op; the model's training flag is restored afterwards."""
    x = example if isinstance(example, Tensor) else Tensor(np.asarray(example))
    x = Tensor(x.data)                        # a fresh leaf: the graph's one input
    steps, keep = [], [x]

    def record(op, inputs, options, output):
        steps.append(Step(op, inputs, dict(options), output))
        keep.extend(t for t in (*inputs, output) if t is not None)

    was_training = getattr(model, "training", False)
    model.eval()
    try:
        with no_grad(), recording_ops(record):
            out = model(x)
    finally:
        model.train(was_training)
    outputs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    if not outputs or not all(isinstance(o, Tensor) for o in outputs):
        raise TypeError(f"minidl.onnx: {type(model).__name__} returned {type(out).__name__}; "
                        f"expected a Tensor or a tuple of Tensors")
    return Trace(steps, x, outputs, state_names(model), keep)
