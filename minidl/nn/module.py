"""Module: the base class of every layer and model.

A Module owns Parameters (learned), buffers (arrays it keeps but does not learn, like
BatchNorm's running statistics) and sub-Modules, all registered simply by assigning them as
attributes. From that registry it derives everything else: ``parameters()``, ``state_dict()``,
``train()``/``eval()``, moving to a device, and a readable ``repr`` and ``summary``. Hooks
(minidl.nn.hooks) let code watch or change a layer's inputs, outputs and gradients without
touching its ``forward``.
"""
from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from typing import Iterator

import numpy as np

from .. import backend
from ..backend import get_array_module
from ..tensor import ShapeError, Tensor, is_grad_enabled, no_grad
from .hooks import BackwardHook, RemovableHandle, add_hook
from .parameter import Parameter

_calls = threading.local()   # depth of nested Module calls: the outermost one locates a ShapeError


class Module:
    training: bool

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_hooks", OrderedDict())

    # ----- registration -----------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        for registry in ("_parameters", "_buffers", "_modules"):
            table = self.__dict__.get(registry)
            if table is not None and name in table:
                return table[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, array) -> None:
        """Keep an array (saved in state_dict, moved by .to(), never learned)."""
        self.__dict__.pop(name, None)
        self._buffers[name] = array

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    # ----- traversal --------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        yield from self._modules.items()

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """This module and all below it, depth first, with dotted names ('' for this one)."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        seen = set()
        for path, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{path}.{name}" if path else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, object]]:
        for path, module in self.named_modules(prefix):
            for name, b in module._buffers.items():
                yield (f"{path}.{name}" if path else name), b

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # ----- modes and housekeeping -------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Training mode: dropout drops, BatchNorm uses (and updates) batch statistics."""
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: dropout is the identity, BatchNorm uses its running statistics."""
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, flag: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad = flag
        return self

    def apply(self, fn) -> "Module":
        for m in self.modules():
            fn(m)
        return self

    def to(self, device: str) -> "Module":
        """Move every parameter and buffer to 'cpu' or 'cuda', in place (optimizers keep working)."""
        return self._map_arrays(lambda a: backend.to_device(a, device))

    def double(self) -> "Module":
        return self._map_arrays(lambda a: a.astype(np.float64) if a.dtype.kind == "f" else a)

    def float(self) -> "Module":
        return self._map_arrays(lambda a: a.astype(np.float32) if a.dtype.kind == "f" else a)

    def _map_arrays(self, fn) -> "Module":
        for m in self.modules():
            for p in m._parameters.values():
                p.data = fn(p.data)
                if p.grad is not None:
                    p.grad = fn(p.grad)
            for name, b in list(m._buffers.items()):
                if b is not None:
                    m._buffers[name] = fn(b)
        return self

    # ----- state ------------------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Every parameter and buffer by dotted name, as NumPy arrays (copies)."""
        state = OrderedDict()
        for name, p in self.named_parameters():
            state[name] = backend.to_device(p.data, "cpu").copy()
        for name, b in self.named_buffers():
            if b is not None:
                state[name] = backend.to_device(b, "cpu").copy()
        return state

    def load_state_dict(self, state_dict, strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy arrays into this module's parameters and buffers, in place.

        strict (the default): a missing key, an unexpected key or a wrong shape is an error that
        lists them all, so a layer can never stay silently random. Returns (missing, unexpected).
        """
        own = dict(self.named_parameters())
        own_buffers = {name: (m, key) for path, m in self.named_modules()
                       for key in m._buffers for name in [f"{path}.{key}" if path else key]}
        expected = list(own) + list(own_buffers)
        missing = [k for k in expected if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own and k not in own_buffers]
        mismatched = []
        for k, value in state_dict.items():
            target = own[k].data if k in own else (
                own_buffers[k][0]._buffers[own_buffers[k][1]] if k in own_buffers else None)
            if target is not None and tuple(np.shape(value)) != tuple(target.shape):
                mismatched.append(f"{k}: expected {tuple(target.shape)}, got {tuple(np.shape(value))}")
        if mismatched or (strict and (missing or unexpected)):
            lines = [f"{type(self).__name__}.load_state_dict: the weights do not fit this model"]
            lines += [f"  missing key: {k}" for k in missing] if strict else []
            lines += [f"  unexpected key: {k}" for k in unexpected] if strict else []
            lines += [f"  shape mismatch: {m}" for m in mismatched]
            raise KeyError("\n".join(lines))
        with no_grad():
            for k, value in state_dict.items():
                if k in own:
                    xp = get_array_module(own[k].data)
                    own[k].data[...] = xp.asarray(value, dtype=own[k].dtype)
                elif k in own_buffers:
                    module, key = own_buffers[k]
                    buf = module._buffers[key]
                    buf[...] = get_array_module(buf).asarray(value, dtype=buf.dtype)
        return missing, unexpected

    # ----- calling ----------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        depth = getattr(_calls, "depth", 0)
        _calls.depth = depth + 1
        try:
            if not (self._forward_pre_hooks or self._forward_hooks or self._backward_hooks):
                out = self.forward(*args, **kwargs)
            else:
                out = self._call_with_hooks(args, kwargs)
        except ShapeError as err:
            if err.module is None:          # the innermost module that saw it claims it
                err.module, err.where = self, type(self).__name__
            if depth == 0:                  # the outermost one knows every module's name
                path = next((n for n, m in self.named_modules() if m is err.module), "")
                err.locate(path or None)
            raise
        finally:
            _calls.depth = depth
        return out

    # ----- hooks (minidl.nn.hooks) ------------------------------------------------------------
    def _call_with_hooks(self, args: tuple, kwargs: dict):
        """Pre-hooks, the backward hooks' input side, forward, forward hooks, their output side."""
        for hook in tuple(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        backward = None
        if self._backward_hooks and is_grad_enabled():
            backward = BackwardHook(self, self._backward_hooks.values())
            args = backward.setup_input_hook(args)
        out = self.forward(*args, **kwargs)
        for hook in tuple(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out if backward is None else backward.setup_output_hook(out)

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, inputs)`` before each forward; a value it returns (a tuple, or one
        input) replaces the positional inputs."""
        return add_hook(self._forward_pre_hooks, hook, "forward_pre")

    def register_forward_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after each forward; a value it returns replaces
        the output."""
        return add_hook(self._forward_hooks, hook, "forward")

    def register_full_backward_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` in the backward pass: grad_output holds
        dL/d(each output tensor), grad_input dL/d(each tensor input), None where no gradient
        flows; a tuple it returns replaces grad_input, so earlier layers get that instead."""
        return add_hook(self._backward_hooks, hook, "full_backward")

    # ----- display ----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not self._modules:
            return head + ")"
        lines = [head]
        for name, child in self._modules.items():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"

    def summary(self, input_shape, dtype=np.float32) -> str:
        """A table of every layer's output shape and parameter count for one forward pass of
        zeros of ``input_shape`` (batch axis included), with the totals. Returns the text."""
        names = {id(m): n for n, m in self.named_modules()}
        layers = {id(m): m for m in self.modules() if m is not self and not m._modules}
        records = []                        # (layer, output) in the order the layers ran

        def record(module, inputs, output):
            records.append((module, output))

        was_training = self.training
        self.eval()
        with contextlib.ExitStack() as hooks:
            for layer in layers.values():
                hooks.enter_context(layer.register_forward_hook(record))
            try:
                with no_grad():
                    device = next((p.device for p in self.parameters()), "cpu")
                    self(Tensor(backend.to_device(np.zeros(input_shape, dtype=dtype), device)))
            finally:
                self.train(was_training)
        rows = [("layer", "type", "output shape", "params")]
        for module, out in records:         # containers: their children are listed instead
            own = sum(p.numel() for p in module._parameters.values())
            shape = tuple(out.shape) if hasattr(out, "shape") else "-"
            rows.append((names[id(module)], type(module).__name__, str(shape), f"{own:,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        fmt = "  ".join(f"{{:<{w}}}" if i < 3 else f"{{:>{w}}}" for i, w in enumerate(widths))
        text = [fmt.format(*rows[0]), "-" * (sum(widths) + 6)] + [fmt.format(*r) for r in rows[1:]]
        total, trainable = self.num_parameters(), self.num_parameters(trainable_only=True)
        text += ["-" * (sum(widths) + 6), f"total parameters: {total:,} (trainable {trainable:,})"]
        return "\n".join(text)
