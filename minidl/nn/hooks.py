"""Hooks: functions a Module calls around its forward pass and during the backward pass.

    handle = layer.register_forward_hook(lambda module, inputs, output: print(output.shape))
    handle.remove()                          # or:  with layer.register_forward_hook(...): ...

    forward pre-hook   hook(module, inputs)          -> None, or new inputs (a tuple, or one value)
    forward hook       hook(module, inputs, output)  -> None, or a new output
    backward hook      hook(module, grad_input, grad_output) -> None, or a new grad_input

``inputs`` is the tuple of positional arguments. In the backward hook ``grad_output[i]`` is
dL/d(the module's i-th output tensor) and ``grad_input[j]`` dL/d(its j-th tensor input), None
where no gradient flows. Hooks of one kind run in the order they were registered.

How the backward hook sees both ends of the module: ``BackwardHook`` routes the module's inputs,
and then its outputs, through a ``_Join`` node of the graph, an identity on several tensors at
once. Every tensor leaves it through its own ``_Split``, whose backward puts dL/d(tensor) in a
shared list instead of passing it on. The walk reaches ``_Join`` only after every ``_Split``
(it is their common input), so its backward sees the gradients of all the tensors together and
hands them, possibly replaced, to the tensors that went in:

    x ──> _Join ──> _Split ──> x' ──> module.forward ──> y ──> _Join ──> _Split ──> y' ──> ...
"""
from __future__ import annotations

import itertools
import weakref
from collections import OrderedDict

from ..backend import get_array_module
from ..tensor import Function, Tensor

__all__ = ["BackwardHook", "RemovableHandle", "add_hook"]


class RemovableHandle:
    """What ``register_*_hook`` returns: ``remove()`` unregisters the hook (again is harmless);
    as a context manager it removes the hook on leaving the block."""

    _ids = itertools.count()

    def __init__(self, hooks: OrderedDict):
        self.hooks_dict_ref = weakref.ref(hooks)    # a handle does not keep its module alive
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        hooks = self.hooks_dict_ref()
        if hooks is not None:
            hooks.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()


def add_hook(hooks: OrderedDict, hook, kind: str) -> RemovableHandle:
    """Append ``hook`` to a module's table of hooks of one kind; returns its handle."""
    if not callable(hook):
        raise TypeError(f"register_{kind}_hook: the hook must be callable, got {type(hook).__name__}")
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


class _Hub:
    """The gradients of the tensors that went through one _Join, gathered by their _Splits."""

    def __init__(self, n: int, on_grads):
        self.grads, self.on_grads = [None] * n, on_grads

    def add(self, slot: int, grad) -> None:
        self.grads[slot] = grad if self.grads[slot] is None else self.grads[slot] + grad

    def release(self) -> tuple:
        grads, self.grads = tuple(self.grads), [None] * len(self.grads)
        return tuple(self.on_grads(grads))


class _Join(Function):
    """Several tensors -> one 0-d token the _Splits hang from; backward: the hub's gradients."""

    def forward(self, *arrays, hub):
        self.hub = hub
        return get_array_module(*arrays).zeros((), dtype=arrays[0].dtype)

    def backward(self, grad):
        return self.hub.release()


class _Split(Function):
    """(token) -> the tensor ``value`` unchanged; backward files dL/d(value) with the hub."""

    def forward(self, token, value, hub, slot):
        self.hub, self.slot = hub, slot
        return value

    def backward(self, grad):
        self.hub.add(self.slot, grad)
        return (get_array_module(grad).zeros((), dtype=grad.dtype),)


def _route(tensors: list, on_grads) -> list:
    """The tensors, those that require grad passed through one _Join (others as they are).
    ``on_grads(grads)`` gets dL/d(each tensor) in the backward pass, None for those without, and
    returns the gradients to pass on to the tensors themselves."""
    slots = [i for i, t in enumerate(tensors) if t.requires_grad]
    if not slots:
        return tensors

    def pass_on(joined_grads):
        grads = [None] * len(tensors)
        for i, g in zip(slots, joined_grads):
            grads[i] = g
        grads = on_grads(tuple(grads))
        return [grads[i] for i in slots]

    hub = _Hub(len(slots), pass_on)
    token = _Join.apply(*(tensors[i] for i in slots), hub=hub)
    routed = list(tensors)
    for slot, i in enumerate(slots):
        routed[i] = _Split.apply(token, value=tensors[i].data, hub=hub, slot=slot)
    return routed


def _tensors_in(value) -> list:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [v for v in value if isinstance(v, Tensor)]
    return []


def _replace_tensors(value, tensors: list):
    if isinstance(value, Tensor):
        return tensors[0]
    if isinstance(value, (tuple, list)):
        new = iter(tensors)
        return type(value)(next(new) if isinstance(v, Tensor) else v for v in value)
    return value


class BackwardHook:
    """One forward call's link between a module's backward hooks and the graph it records.

    Module.__call__ routes its inputs with ``setup_input_hook`` before forward and its output
    with ``setup_output_hook`` after; the hooks run when the backward pass reaches the inputs
    (or, when no input requires grad, as soon as it reaches the outputs).
    """

    def __init__(self, module, hooks):
        self.module, self.hooks = module, tuple(hooks)
        self.inputs: list = []
        self.inputs_routed = False
        self.grad_output = None

    def setup_input_hook(self, args: tuple) -> tuple:
        self.inputs = _tensors_in(args)
        self.inputs_routed = any(t.requires_grad for t in self.inputs)
        return _replace_tensors(args, _route(self.inputs, self._run_hooks))

    def setup_output_hook(self, output):
        return _replace_tensors(output, _route(_tensors_in(output), self._output_grads))

    def _output_grads(self, grads: tuple) -> tuple:
        self.grad_output = grads
        if not self.inputs_routed:          # nothing upstream will call the hooks: call them now
            self._run_hooks((None,) * len(self.inputs))
        return grads

    def _run_hooks(self, grad_input: tuple) -> tuple:
        grad_output = self.grad_output if self.grad_output is not None else ()
        self.grad_output = None             # a second backward (retain_graph) gathers afresh
        for hook in self.hooks:
            result = hook(self.module, grad_input, grad_output)
            if result is not None:
                grad_input = self._checked(tuple(result) if isinstance(result, (tuple, list))
                                           else (result,), grad_input)
        return grad_input

    def _checked(self, new: tuple, old: tuple) -> tuple:
        where = f"{type(self.module).__name__} backward hook"
        if len(new) != len(old):
            raise ValueError(f"{where}: expected {len(old)} gradients (one per tensor input), "
                             f"got {len(new)}")
        out = []
        for i, (g, t) in enumerate(zip(new, self.inputs)):
            if g is not None:
                g = g.data if isinstance(g, Tensor) else g
                if tuple(g.shape) != t.shape:
                    raise ValueError(f"{where}: expected grad_input[{i}] of shape {t.shape}, "
                                     f"got {tuple(g.shape)}")
            out.append(g)
        return tuple(out)
