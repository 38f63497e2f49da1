"""The graph behind a tensor, drawn: Graphviz DOT text, an SVG/PNG when ``dot`` is installed, and
an indented text tree that needs nothing.

    loss = model(x).sum()
    print(viz.to_text(loss, model))                 # the tree, in the terminal
    viz.draw(loss, "graph.svg", model)              # Graphviz if installed, else graph.txt

Tensors are boxes labelled with their shape and dtype (a leaf also with its parameter name when
``module`` is given, e.g. ``fc1.weight``, or a dict {name: tensor}; other leaves read ``input`` when they require grad,
``constant`` when not); ops are ellipses labelled with the op's name. After
``backward(retain_graph=True)`` each tensor that holds a ``.grad`` also shows its gradient's
norm. Nodes are numbered in forward order, so the same graph always gives the same text.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from .backend import to_device
from .graph import grad_fn, op_name, tensors_in_forward_order
from .tensor import Tensor

__all__ = ["parameter_names", "to_dot", "to_text", "draw", "has_graphviz"]


def parameter_names(module) -> dict[int, str]:
    """id(parameter) -> its name: ``module`` is a Module (dotted names from
    ``named_parameters()``) or a dict {name: tensor} for tensors made by hand."""
    if module is None:
        return {}
    pairs = module.items() if isinstance(module, dict) else module.named_parameters()
    return {id(p): name for name, p in pairs}


def _tensor_label(t: Tensor, names: dict[int, str]) -> str:
    shape = "(" + ", ".join(map(str, t.shape)) + ("," if t.ndim == 1 else "") + ")"
    text = f"{shape} {t.dtype}"
    if grad_fn(t) is None:
        role = names.get(id(t)) or ("input" if t.requires_grad else "constant")
        text = f"{role} {text}"
    if t.grad is not None:
        text += f" grad norm {float(np.linalg.norm(to_device(t.grad, 'cpu'))):.4g}"
    return text


def _numbered(root: Tensor):
    """(tensors in forward order, {id(tensor): its number})."""
    tensors = tensors_in_forward_order(root)
    return tensors, {id(t): i for i, t in enumerate(tensors)}


def to_dot(root: Tensor, module=None) -> str:
    """The graph as Graphviz DOT: tensor ``tN`` (box) -> op ``fN`` (ellipse) -> tensor ``tN``,
    read left to right, the numbers following forward order."""
    names = parameter_names(module)
    tensors, number = _numbered(root)
    lines = ["digraph minidl {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
    for t in tensors:
        i = number[id(t)]
        style = ', style=filled, fillcolor="#dbe9f6"' if id(t) in names else ""
        lines.append(f'  t{i} [shape=box, label="{_tensor_label(t, names)}"{style}];')
        fn = grad_fn(t)
        if fn is not None:
            lines.append(f'  f{i} [shape=ellipse, label="{op_name(fn)}"];')
            lines.extend(f"  t{number[id(x)]} -> f{i};" for x in fn.inputs if x is not None)
            lines.append(f"  f{i} -> t{i};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_text(root: Tensor, module=None) -> str:
    """The graph as an indented tree from ``root`` down to the leaves: each tensor line shows the
    op that made it after ``<-``; a tensor reached a second time is shown once and then referred
    to as ``[tN] (see above)``."""
    names = parameter_names(module)
    _, number = _numbered(root)
    lines, shown = [], set()
    stack = [(root, 0)]
    while stack:
        t, depth = stack.pop()
        i, fn = number[id(t)], grad_fn(t)
        pad = "  " * depth
        if id(t) in shown:
            lines.append(f"{pad}[t{i}] (see above)")
            continue
        shown.add(id(t))
        made_by = f" <- {op_name(fn)}" if fn is not None else ""
        lines.append(f"{pad}[t{i}] {_tensor_label(t, names)}{made_by}")
        if fn is not None:
            stack.extend((x, depth + 1) for x in reversed(fn.inputs) if x is not None)
    return "\n".join(lines) + "\n"


def has_graphviz() -> bool:
    """Whether Graphviz's ``dot`` program is on the PATH (Debian: ``apt-get install graphviz``)."""
    return shutil.which("dot") is not None


def draw(root: Tensor, path, module=None) -> Path:
    """Write the graph to ``path``: rendered by ``dot`` in the format its suffix names (.svg,
    .png, .pdf) when Graphviz is installed; otherwise the text tree beside it, with suffix .txt.
    Returns the path written."""
    path = Path(path)
    if not has_graphviz():
        path = path.with_suffix(".txt")
        path.write_text(to_text(root, module))
        return path
    fmt = path.suffix.lstrip(".") or "svg"
    done = subprocess.run(["dot", f"-T{fmt}", "-o", str(path)], input=to_dot(root, module),
                          text=True, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"viz.draw: Graphviz's dot could not write {path} "
                           f"(exit {done.returncode}): {done.stderr.strip()}")
    return path
