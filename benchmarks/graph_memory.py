"""What a minidl graph keeps alive for its backward pass, by op type.

After a forward pass with grad, every Function in the graph (``Tensor._ctx``) holds two kinds of
arrays until ``backward()`` frees it:

    saved     the NumPy arrays stored as attributes on the Function (its cache: ReLU's output,
              a convolution's columns, batch norm's x-hat, ...), also inside tuples, lists, dicts
    inputs    the data of the non-leaf Tensors in ``Function.inputs``, which the graph keeps
              alive even when backward never reads them

Each buffer is counted once however often it is referenced: a view counts as the array that owns
its memory (following ``.base``), and a buffer goes to the first op, in forward order, that
saves it (or, when no op saves it, to the first op that takes it as an input). The data of leaf
tensors (parameters, the input batch) exists without the graph: it is reported apart as
``leaves`` and left out of ``total_bytes``.
"""
from __future__ import annotations

import numpy as np

_NOT_CACHE = {"inputs", "needs_input_grad"}     # Function's own bookkeeping, not what forward saved


def owner(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory (``a`` itself unless it is a view)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _arrays_in(value):
    """The ndarrays in an attribute value, looking one container level deep at a time."""
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _arrays_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _arrays_in(v)


def functions_in_forward_order(root) -> list:
    """The Functions reachable from ``root`` (a Tensor) through ``_ctx``, inputs' producers first."""
    order, seen_tensors, seen_fns = [], set(), set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        fn = node._ctx
        if expanded:
            if id(fn) not in seen_fns:
                seen_fns.add(id(fn))
                order.append(fn)
            continue
        if id(node) in seen_tensors or fn is None:
            continue
        seen_tensors.add(id(node))
        stack.append((node, True))
        stack.extend((t, False) for t in reversed(fn.inputs) if t is not None)
    return order


def graph_memory(root) -> dict:
    """Bytes the graph behind ``root`` keeps for backward:

    {"by_op": {op type: {"functions", "saved_arrays", "saved_bytes", "input_arrays", "input_bytes"}},
     "leaves": {"arrays", "bytes"}, "total_bytes": saved + input bytes over all ops}
    """
    functions = functions_in_forward_order(root)
    counted: set[int] = set()
    leaves = {"arrays": 0, "bytes": 0}
    for fn in functions:
        for t in fn.inputs:
            if t is not None and t._ctx is None and isinstance(t.data, np.ndarray):
                base = owner(t.data)
                if id(base) not in counted:
                    counted.add(id(base))
                    leaves["arrays"] += 1
                    leaves["bytes"] += base.nbytes
    by_op: dict[str, dict[str, int]] = {}
    row = lambda fn: by_op.setdefault(type(fn).__name__, dict.fromkeys(  # noqa: E731
        ("functions", "saved_arrays", "saved_bytes", "input_arrays", "input_bytes"), 0))
    for fn in functions:
        r = row(fn)
        r["functions"] += 1
        for name, value in vars(fn).items():
            if name in _NOT_CACHE:
                continue
            for a in _arrays_in(value):
                base = owner(a)
                if id(base) not in counted:
                    counted.add(id(base))
                    r["saved_arrays"] += 1
                    r["saved_bytes"] += base.nbytes
    for fn in functions:
        r = row(fn)
        for t in fn.inputs:
            if t is not None and isinstance(t.data, np.ndarray):
                base = owner(t.data)
                if id(base) not in counted:
                    counted.add(id(base))
                    r["input_arrays"] += 1
                    r["input_bytes"] += base.nbytes
    total = sum(r["saved_bytes"] + r["input_bytes"] for r in by_op.values())
    return {"by_op": by_op, "leaves": leaves, "total_bytes": total}
