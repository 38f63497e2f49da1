"""The memory ledger: what the graph behind a tensor keeps alive for its backward pass.

After a forward pass with grad, every op (``Function``) in the graph holds two kinds of arrays
until ``backward()`` frees it:

    saved     the arrays stored as attributes on the Function (its cache: ReLU's output mask, a
              convolution's im2col columns, batch norm's x-hat, ...), also inside tuples, lists
              and dicts
    inputs    the data of the non-leaf input Tensors that the caller still holds (the graph
              itself keeps only the op behind such a tensor, not its data: ``tensor._Node``)

Each buffer is counted once however often it is referenced: a view counts as the array that owns
its memory (following ``.base``), and a buffer goes to the first op, in forward order, that
saves it (or, when no op saves it, to the first op that takes it as an input). The data of leaf
tensors (parameters, the input batch) exists without the graph: it is reported apart as
``leaf_bytes`` and left out of ``total_bytes``.

The peak during backward follows ``Tensor.backward``: it takes the ops from the output back,
frees each op's saved arrays once its backward has run, keeps the data of the tensors the caller
holds, and holds a gradient for a tensor from the moment the first op that used it has run
until the tensor's own op runs (a leaf's ``.grad`` stays). The scratch arrays an op allocates
inside its own backward are not counted.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np

from .backend import is_cupy_array
from .graph import functions_in_forward_order, grad_fn, op_name, tensors_in_forward_order

__all__ = ["SavedArray", "OpMemory", "Ledger", "ledger", "graph_memory", "owner", "by_stage",
           "stage_outputs"]

_NOT_CACHE = {"inputs", "needs_input_grad"}     # Function's own bookkeeping, not what forward saved


def _is_array(a) -> bool:
    return isinstance(a, np.ndarray) or is_cupy_array(a)


def owner(a):
    """The array that owns ``a``'s memory (``a`` itself unless it is a view)."""
    while _is_array(a.base):
        a = a.base
    return a


def _nbytes(t) -> int:
    """Bytes of a tensor's data from its shape and dtype (held or not)."""
    return math.prod(t.shape) * np.dtype(t.dtype).itemsize


def _arrays_in(value, path: str):
    """(path, array) for the arrays in an attribute value, inside tuples, lists and dicts."""
    if _is_array(value):
        yield path, value
    elif isinstance(value, (tuple, list)):
        for i, v in enumerate(value):
            yield from _arrays_in(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _arrays_in(v, f"{path}[{k!r}]")


@dataclass
class SavedArray:
    """One buffer an op keeps: the attribute it hangs on, e.g. ``cols`` or ``cache[0]``."""
    name: str
    shape: tuple
    dtype: str
    nbytes: int


@dataclass
class OpMemory:
    """One op's row of the ledger. ``position`` counts ops in forward order from 0."""
    position: int
    op: str
    output_shape: tuple
    saved: list[SavedArray] = field(default_factory=list)
    input_arrays: int = 0          # non-leaf inputs' buffers no op saves, held through inputs
    input_bytes: int = 0

    @property
    def saved_bytes(self) -> int:
        return sum(s.nbytes for s in self.saved)

    @property
    def bytes(self) -> int:
        return self.saved_bytes + self.input_bytes


@dataclass
class Ledger:
    """Every op's kept arrays and bytes, their total, the leaves' bytes and the backward peak."""
    ops: list[OpMemory]
    leaf_arrays: int
    leaf_bytes: int
    peak_backward_bytes: int

    @property
    def total_bytes(self) -> int:
        return sum(r.bytes for r in self.ops)

    def by_op(self) -> dict[str, dict[str, int]]:
        """op type -> {"functions", "saved_arrays", "saved_bytes", "input_arrays", "input_bytes"}."""
        out: dict[str, dict[str, int]] = {}
        for r in self.ops:
            row = out.setdefault(r.op, dict.fromkeys(
                ("functions", "saved_arrays", "saved_bytes", "input_arrays", "input_bytes"), 0))
            row["functions"] += 1
            row["saved_arrays"] += len(r.saved)
            row["saved_bytes"] += r.saved_bytes
            row["input_arrays"] += r.input_arrays
            row["input_bytes"] += r.input_bytes
        return out

    def table(self, top: int | None = None) -> str:
        """The ledger as text: one line per op (the ``top`` largest when given), then totals."""
        rows = sorted(self.ops, key=lambda r: -r.bytes)[:top] if top else self.ops
        lines = [f"{'#':>4}  {'op':<18}{'output':<20}{'kept':>10}  saved arrays"]
        for r in rows:
            saved = ", ".join(f"{s.name} {s.shape}" for s in r.saved) or "-"
            if r.input_bytes:
                saved += f"; inputs {_mb(r.input_bytes)}"
            lines.append(f"{r.position:>4}  {r.op:<18}{str(r.output_shape):<20}{_mb(r.bytes):>10}  {saved}")
        if top and len(self.ops) > top:
            lines.append(f"      ... {len(self.ops) - top} smaller ops")
        lines.append(f"total kept for backward {_mb(self.total_bytes)} in {len(self.ops)} ops; "
                     f"peak during backward {_mb(self.peak_backward_bytes)}; "
                     f"leaves (parameters, input) {_mb(self.leaf_bytes)}")
        return "\n".join(lines)


def _mb(n: int) -> str:
    return f"{n / 2**20:.2f} MB" if n >= 2**17 else f"{n / 2**10:.1f} KB"


def ledger(root) -> Ledger:
    """The memory ledger of the graph behind ``root`` (a Tensor, e.g. the loss)."""
    tensors = tensors_in_forward_order(root)
    functions = functions_in_forward_order(root)
    outputs = {id(grad_fn(t)): t for t in tensors if grad_fn(t) is not None}
    counted: set[int] = set()
    leaf_arrays = leaf_bytes = 0
    for t in tensors:
        if grad_fn(t) is None and id(owner(t.data)) not in counted:
            counted.add(id(owner(t.data)))
            leaf_arrays, leaf_bytes = leaf_arrays + 1, leaf_bytes + owner(t.data).nbytes
    rows = [OpMemory(i, op_name(fn), outputs[id(fn)].shape) for i, fn in enumerate(functions)]
    for fn, row in zip(functions, rows):
        for name, value in vars(fn).items():
            if name in _NOT_CACHE:
                continue
            for path, a in _arrays_in(value, name):
                base = owner(a)
                if id(base) not in counted:
                    counted.add(id(base))
                    row.saved.append(SavedArray(path, tuple(a.shape), str(a.dtype), base.nbytes))
    for fn, row in zip(functions, rows):
        for t in fn.inputs:
            if t is not None and t.data is not None and id(owner(t.data)) not in counted:
                counted.add(id(owner(t.data)))
                row.input_arrays += 1
                row.input_bytes += owner(t.data).nbytes
    return Ledger(rows, leaf_arrays, leaf_bytes, _peak_backward(tensors, functions))


def _peak_backward(tensors, functions) -> int:
    """Bytes alive at the worst moment of a backward pass that runs the ops from the last back
    (leaf data not included, the leaves' new ``.grad`` included)."""
    held = {id(owner(t.data)): owner(t.data).nbytes for t in tensors
            if grad_fn(t) is not None and t.data is not None}
    leaf = {id(owner(t.data)) for t in tensors if grad_fn(t) is None}
    caches, holders = [], {}            # per op: {buffer id: bytes} of what only its cache keeps
    for fn in functions:
        own = {id(owner(a)): owner(a).nbytes for name, value in vars(fn).items()
               if name not in _NOT_CACHE for _, a in _arrays_in(value, name)}
        own = {k: b for k, b in own.items() if k not in held and k not in leaf}
        caches.append(own)
        for k in own:
            holders[k] = holders.get(k, 0) + 1
    alive = sum(held.values()) + sum({k: b for c in caches for k, b in c.items()}.values())
    made_by = {id(grad_fn(t)): t for t in tensors if grad_fn(t) is not None}
    grads = {}                          # tensor id -> bytes of its gradient, while it is held
    if functions:
        root = made_by[id(functions[-1])]
        grads[id(root)] = _nbytes(root)
    peak = alive + sum(grads.values())
    for fn, own in zip(reversed(functions), reversed(caches)):
        wanted = [t for t in fn.inputs if t is not None and t.requires_grad]
        # while its backward runs: everything held, its upstream gradient and the new ones
        peak = max(peak, alive + sum(grads.values()) + sum(_nbytes(t) for t in wanted))
        grads.pop(id(made_by[id(fn)]), None)
        for t in wanted:
            grads.setdefault(id(t), _nbytes(t))
        for k in own:                   # the op is freed, and with it what only it kept
            holders[k] -= 1
            if holders[k] == 0:
                alive -= own[k]
    return peak


def graph_memory(root) -> dict:
    """The ledger summed by op type: {"by_op": ..., "leaves": {"arrays", "bytes"}, "total_bytes"}."""
    book = ledger(root)
    return {"by_op": book.by_op(), "leaves": {"arrays": book.leaf_arrays, "bytes": book.leaf_bytes},
            "total_bytes": book.total_bytes}


def by_stage(root, outputs: dict) -> dict[str, int]:
    """Bytes the graph behind ``root`` keeps, by stage: ``outputs`` maps stage names, input side
    first, to each stage's output tensor (``stage_outputs``); an op belongs to the first stage
    whose output it leads to, and the ops after the last stage (the loss) go to "after"."""
    book = ledger(root)
    stage_of: dict[int, str] = {}
    for name, out in outputs.items():
        for fn in functions_in_forward_order(out):
            stage_of.setdefault(id(fn), name)
    totals = dict.fromkeys([*outputs, "after"], 0)
    for fn, row in zip(functions_in_forward_order(root), book.ops):
        totals[stage_of.get(id(fn), "after")] += row.bytes
    return totals


@contextlib.contextmanager
def stage_outputs(model, names):
    """Inside the block, ``outputs[name]`` is the last output of the submodule ``name`` of
    ``model`` (forward hooks), in the order of ``names``: the boundaries ``by_stage`` cuts at."""
    modules = dict(model.named_modules())
    outputs: dict[str, object] = dict.fromkeys(names)
    handles = [modules[n].register_forward_hook(lambda m, i, o, n=n: outputs.__setitem__(n, o))
               for n in names]
    try:
        yield outputs
    finally:
        for h in handles:
            h.remove()
