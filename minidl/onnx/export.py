"""``export(model, example_input, path)``: a minidl model as an ONNX file (opset 17).

The model runs once on the example input, in eval mode, with every op recorded
(minidl.onnx.trace); each op becomes ONNX nodes (minidl.onnx.ops, .layers), its parameters and
buffers initializers under their state-dict names. The batch dimension stays free ('N') unless
an op ties the graph to the traced size; use an example batch of 2 or more, so the batch size
cannot be mistaken for another dimension of size 1.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..serialization import atomic_write
from . import layers  # noqa: F401  registers the layer converters
from .builder import GraphBuilder
from .ops import CONVERTERS, OPSET
from .trace import trace

__all__ = ["IR_VERSION", "ONNXExportError", "export", "load_onnx", "supported_ops"]

IR_VERSION = 8        # opset 17's IR version: files onnxruntime >= 1.13 reads


class ONNXExportError(ValueError):
    """The model uses an op (or an op's option) that minidl cannot write as ONNX."""


def load_onnx():
    """The onnx package, or ImportError saying how to install it."""
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401
    except ImportError as err:
        raise ImportError("minidl.onnx needs the onnx package: pip install 'minidl[onnx]' "
                          "(onnx and onnxruntime)") from err
    return onnx


def supported_ops() -> list[str]:
    """The minidl ops (Function class names) export can write."""
    return sorted(CONVERTERS)


def _fold_hint(b, step) -> str:
    """A name for a constant op's value: 'fc.weight.T' for a transposed parameter."""
    (first, *rest) = step.inputs if step.inputs else (None,)
    source = b.names.get(id(first)) if first is not None else None
    if source is not None and not rest and step.op.__name__ == "Permute":
        return f"{source}.T"
    return f"{step.op.__name__.lower()}_const"


def _convert(b, steps, model_name: str) -> None:
    for k, step in enumerate(steps):
        name = step.op.__name__
        if not any(b.is_live(t) for t in step.inputs):
            b.fold(step.output, _fold_hint(b, step))     # constants only: its value is known
            continue
        converter = CONVERTERS.get(name)
        if converter is None:
            raise ONNXExportError(f"minidl.onnx.export: {model_name} uses op {name!r} (step {k} "
                                  f"of the forward pass), which has no ONNX conversion; "
                                  f"supported: {', '.join(supported_ops())}")
        try:
            converter(b, step)
        except NotImplementedError as err:
            raise ONNXExportError(f"minidl.onnx.export: {model_name}: op {name!r} (step {k}) "
                                  f"cannot be exported: {err}") from None


def _outputs(b, outputs) -> list[str]:
    """Name the model's outputs 'output' (or output0, output1, ...) in the graph."""
    names = []
    for i, t in enumerate(outputs):
        want = "output" if len(outputs) == 1 else f"output{i}"
        source = b.value(t)
        produced = any(source in n.output for n in b.nodes)
        if produced and source not in names and source != "input":
            b.rename(source, want)
        else:                                   # the input itself, a constant, or a repeat
            b.nodes.append(b.onnx.helper.make_node("Identity", [source], [want], name=want))
        names.append(want)
    return names


def export(model, example_input, path: str | os.PathLike, *, dynamic_batch: bool = True,
           check: bool = True) -> Path:
    """Write ``model`` (an nn.Module returning logits, or a tuple of outputs) traced on
    ``example_input`` ((N, C, H, W) array or Tensor) as an ONNX file at ``path``; returns it.

    dynamic_batch  keep the batch dimension free (warns and fixes it where an op needs the
                   traced size); False: every shape as traced
    check          run onnx.checker (with shape inference) on the graph before writing
    Raises ONNXExportError naming an op that has no conversion, ImportError without onnx.
    """
    onnx = load_onnx()
    t = trace(model, example_input)
    b = GraphBuilder(onnx, t.input, t.names)
    model_name = type(model).__name__
    _convert(b, t.steps, model_name)
    output_names = _outputs(b, t.outputs)
    if dynamic_batch and b.static_batch:
        warnings.warn(f"minidl.onnx.export: {model_name}'s graph keeps the traced batch size "
                      f"{t.input.shape[0]}: {b.static_batch[0]}", stacklevel=2)
    free = dynamic_batch and not b.static_batch

    def info(name, tensor):
        dims = ["N" if free and i == 0 else int(n) for i, n in enumerate(tensor.shape)]
        elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(tensor.dtype))
        return onnx.helper.make_tensor_value_info(name, elem, dims)

    graph = onnx.helper.make_graph(
        b.nodes, model_name, [info("input", t.input)],
        [info(name, out) for name, out in zip(output_names, t.outputs)],
        initializer=list(b.initializers.values()))
    proto = onnx.helper.make_model(graph, producer_name="minidl",
                                   opset_imports=[onnx.helper.make_opsetid("", OPSET)])
    proto.ir_version = IR_VERSION
    if check:
        onnx.checker.check_model(proto, full_check=True)
    path = Path(path)
    with atomic_write(path) as f:
        f.write(proto.SerializeToString())
    return path
