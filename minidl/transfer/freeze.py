"""Freezing parts of a pretrained network, replacing its head, and showing what will train.

Freezing a parameter sets ``requires_grad = False``. The backward pass then never computes its
gradient: every op is told which of its inputs need one (``Function.needs_input_grad``), and an
op none of whose inputs need a gradient is not even recorded in the graph. So a frozen stem
costs only its forward pass, and the optimizer skips the frozen weights.

Parts are picked by name:

    freeze(model)                        everything
    freeze(model, names=["layer1"])      every module whose dotted name is layer1 or starts with
                                         layer1. (prefix match; "layer1" does not match "layer10")
    freeze(model, upto="layer2")         the stages from the input up to and including layer2

Stages are the model's ``stages`` (a dict stage -> child attributes, or a list of child names)
when it has one, else its children in registration order; a stage name may also be used in
``names``. BatchNorm layers inside the frozen part follow ``bn``:

    "freeze"  running statistics fixed (``frozen_stats = True``, which survives ``model.train()``)
              and gamma/beta frozen: the pretrained layer computes exactly what it did before
    "adapt"   statistics re-estimated on the new data in training mode; gamma/beta frozen
    "affine"  statistics fixed; only gamma and beta learn
"""
from __future__ import annotations

import numpy as np

from .. import nn

__all__ = ["BN_POLICIES", "HEAD_ATTRS", "freeze", "replace_head", "select", "stage_names",
           "stage_table", "trainable_summary", "unfreeze"]

BN_POLICIES = ("freeze", "adapt", "affine")
HEAD_ATTRS = ("linear", "fc", "classifier")
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def stage_table(model) -> dict[str, tuple[str, ...]]:
    """stage name -> the child attribute names it holds, input side first."""
    stages = getattr(type(model), "stages", None)
    if stages is None:
        stages = model.__dict__.get("stages")
    if isinstance(stages, dict):
        return {name: tuple(attrs) for name, attrs in stages.items()}
    if stages is not None:
        return {name: (name,) for name in stages}
    return {name: (name,) for name, _ in model.named_children()}


def stage_names(model) -> list[str]:
    """The model's stages, input side first (see the module docstring)."""
    return list(stage_table(model))


def _matches(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".")


def select(model, names=None, upto: str | None = None) -> list[tuple[str, nn.Module]]:
    """The modules (dotted name, module) that ``names`` or ``upto`` pick; both None: the model
    itself. Each selected module stands for everything below it. Raises KeyError for a name
    or stage that picks nothing, listing the choices."""
    if names is not None and upto is not None:
        raise ValueError("select: give names or upto, not both")
    table = stage_table(model)
    if upto is not None:
        if upto not in table:
            raise KeyError(f"upto={upto!r} is not a stage of {type(model).__name__}; "
                           f"stages are {list(table)}")
        order = list(table)
        names = order[:order.index(upto) + 1]
    elif names is None:
        return [("", model)]
    if isinstance(names, str):
        names = [names]
    prefixes = []
    for name in names:
        prefixes += list(table[name]) if name in table else [name]
    modules = list(model.named_modules())
    chosen, seen = [], set()
    for prefix in prefixes:
        hits = [(p, m) for p, m in modules if _matches(p, prefix)]
        if not hits:
            raise KeyError(f"no module of {type(model).__name__} is named {prefix!r} (or starts "
                           f"with {prefix + '.'!r}); top-level modules are "
                           f"{[n for n, _ in model.named_children()]}, stages {list(table)}")
        for path, module in hits:
            if id(module) not in seen:
                seen.add(id(module))
                chosen.append((path, module))
    return chosen


def _parameters_below(chosen) -> dict[int, object]:
    params = {}
    for _, module in chosen:
        for p in module.parameters():
            params[id(p)] = p
    return params


def _batch_norms_below(chosen) -> list[nn.Module]:
    found = {}
    for _, module in chosen:
        for m in module.modules():
            if isinstance(m, _BATCH_NORMS):
                found[id(m)] = m
    return list(found.values())


def freeze(model, names=None, upto: str | None = None, bn: str = "freeze") -> list[str]:
    """Stop the selected part of ``model`` from learning (see the module docstring for names,
    upto and the BatchNorm policy ``bn``). Returns the dotted names of the parameters that are
    now frozen, in the model's order."""
    if bn not in BN_POLICIES:
        raise ValueError(f"freeze: bn must be one of {BN_POLICIES}, got {bn!r}")
    chosen = select(model, names, upto)
    params = _parameters_below(chosen)
    for p in params.values():
        p.requires_grad = False
    for m in _batch_norms_below(chosen):
        m.frozen_stats = bn in ("freeze", "affine")
        if bn == "affine":
            for p in (m.weight, m.bias):
                if p is not None:
                    p.requires_grad = True
                    params.pop(id(p), None)
    return [name for name, p in model.named_parameters() if id(p) in params]


def unfreeze(model, names=None, upto: str | None = None) -> list[str]:
    """Let the selected part learn again: parameters require grad, BatchNorm statistics update
    in training mode. Returns the dotted names of the parameters it unfroze, in order."""
    chosen = select(model, names, upto)
    params = _parameters_below(chosen)
    for p in params.values():
        p.requires_grad = True
    for m in _batch_norms_below(chosen):
        m.frozen_stats = False
    return [name for name, p in model.named_parameters() if id(p) in params]


def _head_slot(model, attr: str | None):
    """(owner module, attribute name, current Linear) of the classifier head."""
    candidates = (attr,) if attr is not None else HEAD_ATTRS
    for name in candidates:
        head = model._modules.get(name)
        if head is None:
            continue
        if isinstance(head, nn.Linear):
            return model, name, head
        if isinstance(head, nn.Sequential):     # e.g. VGG's classifier: replace its last Linear
            for key in reversed(list(head._modules)):
                if isinstance(head._modules[key], nn.Linear):
                    return head, key, head._modules[key]
        raise TypeError(f"replace_head: {type(model).__name__}.{name} is a {type(head).__name__}, "
                        f"expected a Linear (or a Sequential ending in one)")
    raise KeyError(f"replace_head: {type(model).__name__} has no head named "
                   f"{' or '.join(map(repr, candidates))}; its children are "
                   f"{[n for n, _ in model.named_children()]}")


def replace_head(model, num_classes: int, attr: str | None = None) -> nn.Linear:
    """Put a new, randomly initialised ``Linear(in_features, num_classes)`` where the classifier
    head was (``attr``: 'linear', 'fc' or 'classifier'; None finds the first of them) and
    return it. It is trainable and has the old head's dtype and device."""
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"replace_head: num_classes must be a positive int, got {num_classes!r}")
    owner, key, old = _head_slot(model, attr)
    new = nn.Linear(old.in_features, int(num_classes), bias=old.bias is not None)
    new.to(old.weight.device)
    if old.weight.dtype == np.float64:
        new.double()
    new.train(old.training)
    owner._modules[key] = new   # in place: setattr would move the child to the end of the order
    if hasattr(model, "num_classes"):
        model.num_classes = int(num_classes)
    return new


def _state(params, batch_norms) -> str:
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    state = "trainable" if trainable == total else "frozen" if trainable == 0 else "partly"
    fixed = sum(bool(m.frozen_stats) for m in batch_norms)
    if batch_norms:
        state += (", stats fixed" if fixed == len(batch_norms) else ", stats update" if fixed == 0
                  else f", stats fixed in {fixed} of {len(batch_norms)} BatchNorms")
    return state


def trainable_summary(model, by: str = "layer") -> str:
    """Which parts of ``model`` will learn: one line per layer that owns parameters
    (``by="layer"``) or per stage (``by="stage"``, see stage_names), with its trainable and total
    parameter counts and state (trainable, frozen, partly; BatchNorm statistics fixed or
    updating), then the totals. Returns the text."""
    if by not in ("layer", "stage"):
        raise ValueError(f"trainable_summary: by must be 'layer' or 'stage', got {by!r}")
    rows = [("layer" if by == "layer" else "stage", "type", "trainable", "total", "state")]
    if by == "layer":
        parts = [(path or "(model)", type(m).__name__, [p for p in m._parameters.values() if p is not None],
                  [m] if isinstance(m, _BATCH_NORMS) else []) for path, m in model.named_modules()]
    else:
        parts, seen = [], set()
        for stage, attrs in stage_table(model).items():
            chosen = [(a, model._modules[a]) for a in attrs if a in model._modules]
            params = [p for p in _parameters_below(chosen).values() if id(p) not in seen]
            seen.update(id(p) for p in params)
            parts.append((stage, "+".join(type(m).__name__ for _, m in chosen), params,
                          _batch_norms_below(chosen)))
        rest = [p for p in model.parameters() if id(p) not in seen]
        parts.append(("(rest)", "-", rest, []))
    for name, kind, params, batch_norms in parts:
        if not params:
            continue
        total = sum(p.numel() for p in params)
        trainable = sum(p.numel() for p in params if p.requires_grad)
        rows.append((name, kind, f"{trainable:,}", f"{total:,}", _state(params, batch_norms)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    fmt = "  ".join(f"{{:>{w}}}" if i in (2, 3) else f"{{:<{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*rows[0]).rstrip(), "-" * (sum(widths) + 8)]
    lines += [fmt.format(*r).rstrip() for r in rows[1:]]
    total, trainable = model.num_parameters(), model.num_parameters(trainable_only=True)
    share = 100.0 * trainable / total if total else 0.0
    lines += ["-" * (sum(widths) + 8),
              f"trainable parameters: {trainable:,} of {total:,} ({share:.1f}%)"]
    return "\n".join(lines)
