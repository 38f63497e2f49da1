"""Optimizer parameter groups for fine-tuning, and copying pretrained stages between models.

The lectures' rule: the new head starts from random weights and needs large steps, the copied
layers are already good and need small ones, so the head gets ~10x the base learning rate.
Optionally the rate also falls geometrically towards the input (``decay``), since early layers
hold the most general features:

    groups = param_groups(model, base_lr=0.01, decay=0.5)
    # [{'name': 'stem',   'lr': 0.00125, ...}, {'name': 'layer1', 'lr': 0.0025, ...},
    #  {'name': 'layer2', 'lr': 0.005, ...},   {'name': 'layer3', 'lr': 0.01, ...},
    #  {'name': 'head',   'lr': 0.1, ...}]
    opt = minidl.optim.SGD(groups, lr=0.01, momentum=0.9)
"""
from __future__ import annotations

from ..tensor import no_grad
from .freeze import select, stage_table

__all__ = ["copy_weights", "param_groups"]


def _named_trainable(model, chosen) -> dict[int, tuple[str, object]]:
    """id -> (name, parameter) for the trainable parameters below the chosen modules."""
    ids = {id(p) for _, m in chosen for p in m.parameters()}
    return {id(p): (n, p) for n, p in model.named_parameters() if id(p) in ids and p.requires_grad}


def param_groups(model, base_lr: float, head: str = "linear", head_lr_mult: float = 10.0,
                 decay: float | None = None) -> list[dict]:
    """Parameter groups {"name", "params", "lr"} for minidl.optim (or torch.optim).

    head          dotted name (prefix) of the new classifier; its group "head" gets
                  base_lr * head_lr_mult
    decay         None: the rest of the model is one group "body" at base_lr. A number in
                  (0, 1]: one group per stage (see minidl.transfer.freeze), the last stage
                  before the head at base_lr and each earlier one ``decay`` times the next;
                  parameters in no stage form a group "rest" at base_lr
    Frozen parameters (requires_grad False) are left out, and so are groups left empty.
    """
    if not base_lr > 0:
        raise ValueError(f"param_groups: base_lr must be > 0, got {base_lr!r}")
    if not head_lr_mult > 0:
        raise ValueError(f"param_groups: head_lr_mult must be > 0, got {head_lr_mult!r}")
    if decay is not None and not 0 < decay <= 1:
        raise ValueError(f"param_groups: decay must be in (0, 1] or None, got {decay!r}")
    head_params = _named_trainable(model, select(model, [head]))
    taken = set(head_params)
    groups = []
    if decay is not None:
        table = stage_table(model)
        body_stages = []
        for stage, attrs in table.items():
            chosen = [(a, model._modules[a]) for a in attrs if a in model._modules]
            params = {k: v for k, v in _named_trainable(model, chosen).items() if k not in taken}
            if params:
                body_stages.append((stage, params))
                taken.update(params)
        for depth, (stage, params) in enumerate(reversed(body_stages)):
            groups.insert(0, (stage, params, base_lr * decay ** depth))
    rest = {k: v for k, v in _named_trainable(model, [("", model)]).items() if k not in taken}
    if rest:
        groups.append(("rest" if decay is not None else "body", rest, base_lr))
    if head_params:
        groups.append(("head", head_params, base_lr * head_lr_mult))
    if not groups:
        raise ValueError(f"param_groups: {type(model).__name__} has no trainable parameters "
                         f"(everything is frozen)")
    return [{"name": name, "params": [p for _, p in params.values()], "lr": lr,
             "param_names": [n for n, _ in params.values()]} for name, params, lr in groups]


def copy_weights(source, target, names=None, upto: str | None = None) -> list[str]:
    """Copy the parameters and buffers (BatchNorm statistics) of the selected part of
    ``source`` into the same-named entries of ``target`` (names / upto as in freeze()).

    Every selected entry must exist in target with the same shape (KeyError otherwise, listing
    them). Returns the copied state-dict keys. Used to transplant the first k pretrained stages
    into a freshly initialised network (Yosinski et al., 2014).
    """
    prefixes = [path for path, _ in select(source, names, upto)]
    src = source.state_dict()
    keys = [k for k in src if any(p == "" or k.startswith(p + ".") for p in prefixes)]
    own = target.state_dict()
    problems = [f"  {k}: not in the target" for k in keys if k not in own]
    problems += [f"  {k}: source {src[k].shape}, target {own[k].shape}"
                 for k in keys if k in own and src[k].shape != own[k].shape]
    if problems:
        raise KeyError(f"copy_weights: {type(source).__name__} -> {type(target).__name__}: "
                       f"the selected weights do not fit\n" + "\n".join(problems))
    with no_grad():
        target.load_state_dict({k: src[k] for k in keys}, strict=False)
    return keys
