"""The ONNX graph under construction: values (names of tensors computed from the input),
initializers (weights and other constants) and nodes, built with onnx.helper.

A traced Tensor is *live* when it was computed from the model's input: it has a value name
(``input`` for the input itself). Every other Tensor is a constant: a parameter or buffer
(named by its state-dict name, 'layer1.0.conv1.weight'), a number or array an op was given
('const_3'), or the output of an op all of whose inputs were constants (folded: its value is
already in the trace, e.g. a Linear layer's transposed weight 'fc.weight.T').
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor

__all__ = ["GraphBuilder", "host"]


def host(array) -> np.ndarray:
    """A NumPy copy of an array that may live on the GPU."""
    return np.ascontiguousarray(backend.to_device(array, "cpu"))


class GraphBuilder:
    """Nodes and initializers for one traced forward pass (see the module docstring)."""

    def __init__(self, onnx, input_tensor, names: dict[int, str]):
        self.onnx = onnx
        self.nodes, self.initializers = [], {}
        self.values = {id(input_tensor): "input"}
        self.names = dict(names)               # id -> name for constants (parameters, buffers)
        self.folded = {}                       # id -> (array, name hint) of folded op outputs
        self.static_batch = []                 # ops that tie the graph to the traced batch size
        self._taken = set(self.names.values()) | {"input"}
        self._constants = {}                   # id -> initializer name, each constant added once

    # ----- names ------------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        name, k = hint, 1
        while name in self._taken:
            name, k = f"{hint}_{k}", k + 1
        self._taken.add(name)
        return name

    def is_live(self, t) -> bool:
        return t is not None and id(t) in self.values

    def bind(self, t, name: str) -> None:
        """Tensor ``t`` is value ``name`` from now on."""
        self.values[id(t)] = name

    # ----- constants --------------------------------------------------------------------------
    def const(self, array, hint: str = "const") -> str:
        """A new initializer holding ``array``; its name."""
        name = self.fresh(hint)
        self.initializers[name] = self.onnx.numpy_helper.from_array(host(array), name)
        return name

    def fold(self, t, hint: str) -> None:
        """Op output ``t`` depends on constants only: keep its traced value as a constant."""
        self.folded[id(t)] = (t.data, hint)

    def constant(self, t, dtype=None) -> str:
        """The initializer for a constant Tensor or raw array ``t`` (made on first use), cast
        to ``dtype`` when given (e.g. a number an op was given, at its other input's dtype)."""
        key = (id(t), None if dtype is None else np.dtype(dtype).str)
        if key not in self._constants:
            if id(t) in self.folded:
                array, hint = self.folded[id(t)]
            else:
                array, hint = (t.data if isinstance(t, Tensor) else t), self.names.get(id(t), "const")
            array = host(array)
            if dtype is not None:
                array = array.astype(dtype, copy=False)
            named = self.names.get(id(t))
            if named is not None and named not in self.initializers:
                self.initializers[named] = self.onnx.numpy_helper.from_array(array, named)
                self._constants[key] = named
            else:
                self._constants[key] = self.const(array, hint)
        return self._constants[key]

    def value(self, t, dtype=None) -> str:
        """The name of Tensor ``t`` as an op input: its value if live (Cast to ``dtype`` if it
        has another), else its constant."""
        if not self.is_live(t):
            return self.constant(t, dtype)
        name = self.values[id(t)]
        if dtype is not None and np.dtype(t.dtype) != np.dtype(dtype):
            to = self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
            name = self.node("Cast", [name], to=to)
        return name

    # ----- nodes ------------------------------------------------------------------------------
    def node(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        """Append one node with one output; returns the output's name."""
        out = self.fresh(hint or op_type.lower())
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def ints(self, values, hint: str) -> str:
        """An int64 1-D initializer (shapes, pads, axes)."""
        return self.const(np.asarray(list(values), dtype=np.int64), hint)

    def tie_batch(self, why: str) -> None:
        """Record that the graph only works at the traced batch size, and why."""
        self.static_batch.append(why)

    def rename(self, old: str, new: str) -> None:
        """Give value ``old`` the name ``new`` (a graph output) in every node."""
        for node in self.nodes:
            for names in (node.input, node.output):
                for i, name in enumerate(names):
                    if name == old:
                        names[i] = new
            if node.name == old:
                node.name = new
        self._taken.add(new)
        for key, name in self.values.items():
            if name == old:
                self.values[key] = new
