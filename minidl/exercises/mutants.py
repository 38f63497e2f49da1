"""Mutants of minidl's hand-written backward passes, for the mutation audit (``audit.py``).

A target is a Function's ``backward`` method (every Function in minidl.functional) or a
dispatched backward op's reference (col2im, conv2d_backward, max_pool2d_backward,
batch_norm_backward, relu_backward). Each mutant corrupts one target in one way:

    sign        every returned gradient negated
    drop-term   one ``a + b`` / ``a - b`` becomes ``a``, or one ``+=`` becomes ``=``
    drop-factor one ``a * b`` / ``a / b`` becomes ``a``
    transpose   one ``.T`` / ``.swapaxes()`` / ``.transpose()`` left out, or one ``a @ b`` becomes ``b @ a``
    swap-grads  the first two returned gradients exchanged (each input gets the other's), where
                they are written differently (Add's ``g, g`` would be an equivalent mutant)
    stride, padding   the backward pass alone sees the stride (padding) with height and width
                exchanged, or the padding off by one, while the forward pass used the right one

``apply(mutant)`` installs one for good (what the audit's pytest plugin does in a fresh
process); ``applied(mutant)`` is the same as a context manager that undoes it.
"""
from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import pkgutil
import textwrap
from dataclasses import dataclass

from .. import functional
from ..functional import activation, conv, norm, pool
from ..tensor import Function

OPS = (conv.col2im, conv.conv2d_backward, pool.max_pool2d_backward, norm.batch_norm_backward,
       activation.relu_backward)
GEOMETRY = {"stride": 0, "padding": 1}      # index in a Function's self.geometry, Conv2d's layout


@dataclass(frozen=True)
class Mutant:
    id: str             # "<target>:<kind>:<n>"
    target: str         # "conv.Conv2d.backward" or "op:col2im"
    kind: str
    description: str    # what changed, e.g. "`g * self.y * (1 - self.y)` -> `g * self.y`"


def targets() -> dict[str, object]:
    """{target name: Function subclass or Op}, every Function of minidl.functional with a backward."""
    found = {}
    for info in pkgutil.iter_modules(functional.__path__):
        module = importlib.import_module(f"{functional.__name__}.{info.name}")
        for name, cls in sorted(vars(module).items()):
            if isinstance(cls, type) and issubclass(cls, Function) and cls.__module__ == module.__name__ \
                    and "backward" in vars(cls):
                found[f"{info.name}.{name}.backward"] = cls
    for op in OPS:
        found[f"op:{op.name}"] = op
    return found


def _function(owner):
    return owner.reference if hasattr(owner, "reference") else owner.backward


def _tree(owner) -> ast.FunctionDef:
    return ast.parse(textwrap.dedent(inspect.getsource(_function(owner)))).body[0]


def _sites(tree, kind):
    """The nodes a kind of mutation can change, in source order."""
    nodes = sorted((n for n in ast.walk(tree) if hasattr(n, "lineno")), key=lambda n: (n.lineno, n.col_offset))
    binop = lambda n, ops: isinstance(n, ast.BinOp) and isinstance(n.op, ops)  # noqa: E731
    if kind == "drop-term":
        return [n for n in nodes if binop(n, (ast.Add, ast.Sub)) or isinstance(n, ast.AugAssign) and
                isinstance(n.op, (ast.Add, ast.Sub))]
    if kind == "drop-factor":
        return [n for n in nodes if binop(n, (ast.Mult, ast.Div))]
    if kind == "transpose":
        return [n for n in nodes if isinstance(n, ast.Attribute) and n.attr == "T" or binop(n, ast.MatMult) or
                isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("swapaxes", "transpose")]
    return []


class _Mutate(ast.NodeTransformer):
    def __init__(self, site):
        self.site = site

    def visit(self, node):
        if node is not self.site:
            return self.generic_visit(node)
        if isinstance(node, ast.AugAssign):
            return ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            return ast.BinOp(left=node.right, op=node.op, right=node.left)
        if isinstance(node, ast.BinOp):
            return node.left
        return node.value if isinstance(node, ast.Attribute) else node.func.value


def mutants() -> list[Mutant]:
    """Every mutant of every target, in a fixed order."""
    out = []
    for name, owner in targets().items():
        out.append(Mutant(f"{name}:sign:0", name, "sign", "every returned gradient negated"))
        tree = _tree(owner)
        for kind in ("drop-term", "drop-factor", "transpose"):
            for i, site in enumerate(_sites(tree, kind)):
                before, after = ast.unparse(site), _changed(site)
                out.append(Mutant(f"{name}:{kind}:{i}", name, kind, f"`{before}` -> `{after}`"))
        returned = [ast.unparse(e) for e in _returned(tree)]
        if not hasattr(owner, "reference") and len(returned) >= 2 and returned[0] != returned[1]:
            out.append(Mutant(f"{name}:swap-grads:0", name, "swap-grads", "the first two gradients exchanged"))
        out += _geometry_mutants(name)
    return out


def _changed(site) -> str:
    copy = ast.parse(ast.unparse(site)).body[0]
    node = copy.value if isinstance(copy, ast.Expr) else copy
    return ast.unparse(_Mutate(node).visit(node))


def _returned(tree) -> list:
    returns = [n for n in ast.walk(tree) if isinstance(n, ast.Return) and isinstance(n.value, ast.Tuple)]
    return returns[0].value.elts if returns else []


def _geometry_mutants(name):
    """Conv2d keeps (stride, padding, dilation, groups), the pools (kh, kw, stride, padding,
    dilation); the dilated max-pool's padding is always (0, 0), so exchanging it changes nothing."""
    layouts = {"conv.Conv2d.backward": "(stride, padding, dilation, groups)",
               "pool.AvgPool2d.backward": "(kh, kw, stride, padding, dilation)",
               "pool.DilatedMaxPool2d.backward": "(kh, kw, stride, padding, dilation)"}
    if name not in layouts:
        return []
    where = f"self.geometry {layouts[name]}"
    found = [Mutant(f"{name}:stride:0", name, "stride", f"{where}: stride's height and width exchanged in backward only"),
             Mutant(f"{name}:padding:0", name, "padding", f"{where}: padding's height and width exchanged in backward only"),
             Mutant(f"{name}:padding:1", name, "padding", f"{where}: padding + 1 in backward only")]
    return [m for m in found if not (name == "pool.DilatedMaxPool2d.backward" and m.id.endswith("padding:0"))]


def _geometry_index(name, kind):
    return (GEOMETRY[kind] if name == "conv.Conv2d.backward" else GEOMETRY[kind] + 2)


def mutated(mutant: Mutant):
    """The corrupted function that replaces the target's (a method, or an op's reference)."""
    owner = targets()[mutant.target]
    original = _function(owner)
    if mutant.kind == "sign":
        def negated(*args, **kwargs):
            grads = original(*args, **kwargs)
            flip = lambda g: None if g is None else -g  # noqa: E731
            return tuple(flip(g) for g in grads) if isinstance(grads, tuple) else flip(grads)
        return negated
    if mutant.kind == "swap-grads":
        def swapped(self, g):
            grads = list(original(self, g))
            grads[0], grads[1] = grads[1], grads[0]
            return tuple(grads)
        return swapped
    if mutant.kind in GEOMETRY:
        k, mode = _geometry_index(mutant.target, mutant.kind), int(mutant.id.rsplit(":", 1)[1])

        def shifted(self, g):
            saved = self.geometry
            geometry = list(saved)
            h, w = geometry[k]
            geometry[k] = (w, h) if mode == 0 else (h + 1, w + 1)
            self.geometry = tuple(geometry)
            try:
                return original(self, g)
            finally:
                self.geometry = saved
        return shifted
    tree = _tree(owner)
    site = _sites(tree, mutant.kind)[int(mutant.id.rsplit(":", 1)[1])]
    tree = _Mutate(site).visit(tree)
    tree.decorator_list = []
    namespace = dict(original.__globals__)
    exec(compile(ast.fix_missing_locations(ast.Module(body=[tree], type_ignores=[])),
                 f"<mutant {mutant.id}>", "exec"), namespace)
    return namespace[tree.name]


_INSTALLED = []     # apply()'s open blocks: a block collected as garbage would undo its mutant


def apply(mutant: Mutant) -> None:
    """Install the mutant for the rest of the process (this thread, for an op)."""
    block = applied(mutant)
    block.__enter__()
    _INSTALLED.append(block)


@contextlib.contextmanager
def applied(mutant: Mutant):
    """Inside the block the target runs its mutant: a Function's backward is replaced, an op runs
    it in place of every version (``Op.override``)."""
    owner, fn = targets()[mutant.target], mutated(mutant)
    if hasattr(owner, "reference"):
        with owner.override(fn):
            yield
        return
    original = owner.__dict__["backward"]
    owner.backward = fn
    try:
        yield
    finally:
        owner.backward = original


def by_id(mutant_id: str) -> Mutant:
    found = [m for m in mutants() if m.id == mutant_id]
    if not found:
        raise KeyError(f"no mutant {mutant_id!r}; `python -m minidl audit --list` lists them")
    return found[0]
