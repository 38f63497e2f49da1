"""minidl's imports point one way: every module imports only its own layer or the layers below,
never another module's private name, and no chain of imports comes back to where it started.

The layers, bottom to top (the README's table):"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (layer, module prefixes) from the bottom up; a module belongs to its longest matching prefix
LAYERS = [
    ("base", ["minidl.process", "minidl.backend", "minidl.geometry"]),
    ("kernels", ["minidl.kernels"]),
    ("tensor", ["minidl.node", "minidl.tensor", "minidl.random", "minidl.graph"]),
    ("functional", ["minidl.functional", "minidl.gradcheck"]),
    ("library", ["minidl.nn", "minidl.optim", "minidl.data", "minidl.serialization",
                 "minidl.download", "minidl.progress", "minidl.plot", "minidl.train", "minidl.cuda",
                 "minidl.viz", "minidl.memory", "minidl.distributed",
                 "minidl.onnx"]),
    ("pretrained", ["minidl.pretrained"]),
    ("models", ["minidl.models"]),
    ("transfer", ["minidl.transfer"]),
    ("cli", ["minidl.cli", "minidl.exercises", "minidl.__main__", "minidl"]),   # minidl/__init__.py: the facade
    ("scripts", ["lessons", "benchmarks"]),
]
__doc__ += "\n" + "\n".join(f"    {i}. {name}: {', '.join(p)}" for i, (name, p) in enumerate(LAYERS))


def module_files():
    """{module name: path} for minidl (kernels/ installs as minidl.kernels), lessons, benchmarks."""
    found = {}
    for folder, package in ((ROOT / "minidl", "minidl"), (ROOT / "kernels", "minidl.kernels"),
                            (ROOT / "lessons", "lessons"), (ROOT / "benchmarks", "benchmarks")):
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


MODULES = module_files()


def layer_of(module: str) -> int:
    best = max(((len(p), i) for i, (_, prefixes) in enumerate(LAYERS) for p in prefixes
                if module == p or module.startswith(p + ".")), default=None)
    assert best is not None, f"{module} belongs to no layer: add it to LAYERS"
    return best[1]


def is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def imports_of(module: str):
    """(imported module, imported name or None, line) for every import statement, at any depth."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            if module.startswith(("lessons", "benchmarks")) and node.level == 0 and \
                    f"{module.split('.')[0]}.{target}" in MODULES:
                target = f"{module.split('.')[0]}.{target}"       # a script's sibling helper
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub, None, node.lineno) if sub in MODULES else (target, alias.name, node.lineno)


def edges():
    """(importer, imported, name, line) for imports of this project's own modules."""
    for module in MODULES:
        for target, name, line in imports_of(module):
            if target in MODULES:
                yield module, target, name, line


def test_every_module_belongs_to_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_module_imports_from_a_higher_layer():
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]}), line {line}"
              for m, t, _, line in edges() if layer_of(t) > layer_of(m)]
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def same_folder(a: str, b: str) -> bool:
    return a.rpartition(".")[0] == b.rpartition(".")[0] or b.startswith(a + ".")


def test_no_module_imports_another_modules_private_name():
    """A leading underscore means "this file's own": a name (or module) no other file uses."""
    private = []
    for m, t, name, line in edges():
        module_private = t.rpartition(".")[2].startswith("_") and not t.endswith("__main__")
        if name is not None and name.startswith("_") or module_private and not same_folder(m, t):
            if t.startswith(("lessons.", "benchmarks.")) and same_folder(m, t):
                continue                      # a script folder's own helper module (_common, _timing)
            private.append(f"{m} imports {t}{'.' + name if name else ''}, line {line}")
    assert not private, "private names imported from other modules:\n" + "\n".join(private)


def test_the_imports_have_no_cycle():
    graph = {m: set() for m in MODULES}
    for m, t, _, _ in edges():
        if m != t and not (is_package(t) and m.startswith(t + ".")):  # a package's init runs first anyway
            graph[m].add(t)
    cycles, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_cycle_check_finds_a_planted_cycle(monkeypatch, tmp_path):
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_text("from . import second\n")
    second.write_text("from .first import thing\n")
    monkeypatch.setitem(MODULES, "minidl.data.first", first)
    monkeypatch.setitem(MODULES, "minidl.data.second", second)
    with pytest.raises(AssertionError, match="minidl.data.first -> minidl.data.second -> minidl.data.first"):
        test_the_imports_have_no_cycle()


@pytest.mark.parametrize("bad, error", [
    ("from minidl.nn import Linear", "imports against the layers"),
    ("from ..progress import _secret", "private names imported"),
])
def test_the_checks_catch_a_planted_import(monkeypatch, tmp_path, bad, error):
    """An upward import in the kernels, and a private name taken from a sibling: both are found."""
    planted = tmp_path / "planted.py"
    planted.write_text(bad + "\n")
    monkeypatch.setitem(MODULES, "minidl.kernels.planted" if "nn" in bad else "minidl.train.planted", planted)
    check = test_no_module_imports_from_a_higher_layer if "layers" in error else \
        test_no_module_imports_another_modules_private_name
    with pytest.raises(AssertionError, match=error):
        check()
