"""The graph's nodes: what an op keeps of its inputs, and the order the backward pass walks them.

An op (a ``Function``) keeps each input as an edge of the graph. A leaf (a parameter, the input
batch, a constant) is kept as the Tensor itself. An op's output is kept as a ``Node``: the op
that made it, its shape, dtype and flags, and the Tensor only weakly. So the graph holds no array
that no backward reads: a ReLU's input (the batch norm's output) is freed as soon as the caller
lets go of it, as in PyTorch, where the graph links ops, not tensors. Whatever an op's backward
does need, its forward saved on the op itself.
"""
from __future__ import annotations

import math
import weakref

import numpy as np

__all__ = ["Node", "edge", "accumulate", "free", "postorder", "topological_order"]


class Node:
    """An op's output as the graph keeps it; ``tensor()`` is the Tensor while the caller holds it."""

    __slots__ = ("_ctx", "requires_grad", "shape", "dtype", "_graph_freed", "_tensor")

    def __init__(self, t):
        self._ctx, self.requires_grad, self._graph_freed = t._ctx, t.requires_grad, t._graph_freed
        self.shape, self.dtype, self._tensor = t.shape, t.dtype, weakref.ref(t)

    def tensor(self):
        return self._tensor()

    @property
    def data(self):
        """The Tensor's array while the caller holds it, else None."""
        t = self._tensor()
        return None if t is None else t.data

    @property
    def grad(self):
        """The Tensor's retained gradient while the caller holds it, else None."""
        t = self._tensor()
        return None if t is None else t.grad

    @property
    def _retain_grad(self) -> bool:
        t = self._tensor()
        return t is not None and t._retain_grad

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize

    def __repr__(self) -> str:
        t = self._tensor()
        op = f"<{self._ctx.name()}>" if self._ctx is not None else "a freed op"
        return repr(t) if t is not None else f"<output of {op}, shape {self.shape}, not held>"


def edge(t):
    """How an op keeps one input: a leaf (or None) as itself; an op's output as its Node, one per
    tensor, made the first time an op takes it."""
    if t is None or t._ctx is None:
        return t
    if t._node is None:
        t._node = Node(t)
    return t._node


def accumulate(node, g) -> None:
    """Add g into .grad of the node's Tensor (if anyone still holds it)."""
    t = node.tensor() if isinstance(node, Node) else node
    if t is not None:
        t.grad = g if t.grad is None else t.grad + g


def free(node) -> None:
    """Drop the op behind node, on both the Tensor and its Node, so neither can backward again."""
    t = node.tensor() if isinstance(node, Node) else node
    for n in (t, None if t is None else t._node, node if isinstance(node, Node) else None):
        if n is not None:
            n._ctx, n._graph_freed = None, True


def postorder(root, inputs) -> list:
    """root and the nodes reachable from it through ``inputs(node)`` (the inputs to follow, in
    the order to visit them), each once and after everything it was computed from.

    An explicit stack instead of recursion, so a 1000-layer net does not hit Python's limit.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        stack.extend((t, False) for t in inputs(node) if id(t) not in visited)
    return order


def topological_order(root) -> list:
    """The nodes reachable from root through inputs that require grad, each after every node
    that uses it: the order of the backward pass."""
    def needing_grad(node):
        return [] if node._ctx is None else [t for t in node._ctx.inputs if t is not None and t.requires_grad]
    return postorder(root, needing_grad)[::-1]
