"""Reading the recorded graph: which op made a tensor, and every tensor and op behind a result.

A Tensor made by an op keeps that op (a ``Function``) as its ``grad_fn``; the op keeps its inputs
in ``inputs``: leaves as Tensors, other ops' outputs as ``minidl.node.Node`` (with shape and dtype,
and the data only while the caller holds the tensor). These read-only helpers walk that structure for the instruments built on
it (``minidl.viz`` draws it, ``minidl.memory`` weighs it, ``minidl.gradcheck`` replays it). After
``backward()`` the graph is gone unless it was called with ``retain_graph=True``.
"""
from __future__ import annotations

from .node import postorder
from .tensor import Function, Tensor

__all__ = ["grad_fn", "tensors_in_forward_order", "functions_in_forward_order", "op_name"]


def grad_fn(t: Tensor) -> Function | None:
    """The op that produced ``t`` (PyTorch's ``t.grad_fn``), None for a leaf or a freed graph."""
    return t._ctx


def op_name(fn: Function) -> str:
    """The op's class name, e.g. 'Conv2d', 'ReLU', 'MatMul'."""
    return type(fn).__name__


def tensors_in_forward_order(root: Tensor) -> list[Tensor]:
    """Every tensor ``root`` was computed from (leaves and constants included) and ``root``
    itself, each once and after all of its op's inputs, left to right."""
    def every_input(node):
        fn = grad_fn(node)
        return [] if fn is None else [t for t in reversed(fn.inputs) if t is not None]
    return postorder(root, every_input)


def functions_in_forward_order(root: Tensor) -> list[Function]:
    """The ops behind ``root``, each once, every op after the ops that made its inputs."""
    return [grad_fn(t) for t in tensors_in_forward_order(root) if grad_fn(t) is not None]
