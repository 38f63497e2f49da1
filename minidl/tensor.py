"""Tensor and the reverse-mode backward pass.

A Tensor wraps an ndarray (NumPy on the CPU, CuPy on a GPU). Every op that makes a Tensor from
others is a ``Function``: its ``forward`` computes the output from raw arrays and saves what the
backward pass needs, its ``backward`` turns dL/d(output) into dL/d(input) for each input. The
Function is kept as the output's ``_ctx``, so the Tensors form a graph that ``backward()`` walks
in reverse topological order, applying the chain rule

    dL/dx = sum over every use y = f(x, ...) of  (dL/dy) * (dy/dx).

Broadcasting is undone in one place: when an op broadcast an input of shape (3,) against (4, 3),
its gradient arrives as (4, 3) and is summed back to (3,) before it is passed on.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

from . import backend
from .backend import get_array_module
from .node import Node, accumulate, edge, free, topological_order

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_grad_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_grad_state, "enabled", True)


@contextlib.contextmanager
def no_grad():
    """Inside the block no graph is recorded: results have requires_grad=False."""
    previous = is_grad_enabled()
    _grad_state.enabled = False
    try:
        yield
    finally:
        _grad_state.enabled = previous


@contextlib.contextmanager
def recording_ops(callback):
    """Every op in the block calls ``callback(op_class, input_tensors, options, output)`` after
    its forward, graph or not (minidl.onnx traces models with it)."""
    previous, _grad_state.recorder = getattr(_grad_state, "recorder", None), callback
    try:
        yield
    finally:
        _grad_state.recorder = previous


def is_recording() -> bool:
    """True inside ``recording_ops``: every op must then run as its own Function."""
    return getattr(_grad_state, "recorder", None) is not None


@contextlib.contextmanager
def enable_grad():
    """Record the graph again inside a ``no_grad`` block."""
    previous = is_grad_enabled()
    _grad_state.enabled = True
    try:
        yield
    finally:
        _grad_state.enabled = previous


class ShapeError(ValueError):
    """A shape, dtype or value that an op or layer cannot take.

    ``where`` names the op or layer; Module.__call__ later prefixes the layer's path in the model,
    e.g. ``features.3 (Linear): expected input (*, 1568), got (128, 1567)``.
    """

    def __init__(self, where: str, expected, actual):
        self.where, self.expected, self.actual = where, expected, actual
        self.module = None   # the Module that raised it, filled in by Module.__call__
        self.path = None     # that module's dotted name in the outermost model
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"{self.path} ({self.where})" if self.path else self.where
        return f"{where}: expected {self.expected}, got {self.actual}"

    def locate(self, path: str) -> None:
        self.path = path
        self.args = (self._message(),)


def sum_to_shape(grad, shape):
    """Undo broadcasting: sum ``grad`` over the axes along which an array of ``shape`` was stretched."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _as_array(data, dtype=None):
    """Coerce data to an ndarray. Arrays keep their dtype; Python floats (and lists of them)
    become float32, the default; Python ints stay int64 (labels, indices)."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return get_array_module(data).asarray(data, dtype=dtype)
    if isinstance(data, np.ndarray) or backend.is_cupy_array(data):
        return data.astype(np.float32) if data.dtype == np.float16 else data
    arr = np.asarray(data)
    if arr.dtype.kind == "f" and not isinstance(data, np.generic):
        arr = arr.astype(np.float32)
    return arr


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    data          the ndarray (float32 by default, float64 allowed; integer arrays for labels)
    requires_grad whether backward() should compute dL/d(this)
    grad          after backward(): dL/d(this) as an ndarray of the same shape (leaves only,
                  unless retain_grad() was called)
    grad_fn       the Function (op) that made this tensor, None for a leaf; its ``name()`` and
                  ``inputs`` say which op and from what (None again once backward() freed it)

    ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` compare elementwise and give boolean Tensors (no
    gradient), as in PyTorch; a tensor hashes by identity, so it can key a dict (optimizer state).

    Its operators and math methods (``a + b``, ``x @ w``, ``x.sum()``, ``x.relu()``, ``x.to()``)
    are the ops of ``minidl.functional``, attached in ``functional/methods.py``: the ops are built
    on Tensor, so Tensor cannot import them.
    """

    __array_priority__ = 1000  # so that ndarray * Tensor calls Tensor.__rmul__

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"Tensor: only float32 or float64 tensors can require gradients, "
                            f"got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._ctx: Function | None = None   # the Function that produced this tensor
        self._retain_grad = False
        self._graph_freed = False            # backward() freed the op that produced it
        self._node: Node | None = None      # what the graph keeps of it, once an op takes it

    # ----- array-like facts -------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    def size(self, dim: int | None = None):
        """The shape, as PyTorch's ``size()``; ``size(dim)`` one of its lengths. (The number of
        elements, NumPy's ``size``, is ``numel()``.)"""
        return self.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def dim(self) -> int:
        return self.data.ndim

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        """Made by the user, not by an op (a freed op's output is still no leaf)."""
        return self._ctx is None and not self._graph_freed

    @property
    def grad_fn(self) -> "Function | None":
        """The op that produced this tensor (PyTorch's ``grad_fn``), None for a leaf."""
        return self._ctx

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad and self._ctx is None else ""
        if self._ctx is not None:
            grad = f", grad_fn=<{self._ctx.name()}>"
        dev = ", device='cuda'" if self.device == "cuda" else ""
        body = np.array2string(backend.to_device(self.data, "cpu"), precision=4, separator=", ",
                               prefix="tensor(")
        return f"tensor({body}{dev}{grad})"

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied from the GPU if needed; no graph)."""
        return backend.to_device(self.data, "cpu")

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(f"item(): only a one-element tensor converts to a number, shape is {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    # ----- graph control --------------------------------------------------------------------
    def detach(self) -> "Tensor":
        """The same data, cut from the graph (no copy)."""
        return Tensor(self.data)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        if not self.is_leaf:
            raise RuntimeError("requires_grad_(): only leaf tensors can change requires_grad; use detach()")
        if flag and self.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"requires_grad_(): dtype {self.dtype} cannot require gradients")
        self.requires_grad = flag
        return self

    def retain_grad(self) -> "Tensor":
        """Keep .grad on this intermediate tensor after backward()."""
        self._retain_grad = True
        return self

    # ----- the backward pass ------------------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Compute dL/d(leaf) for every leaf that requires grad, L being this tensor.

        Without ``grad`` this tensor must hold a single number (a loss). Gradients accumulate into
        ``.grad`` (call ``zero_grad()`` between steps). The graph is freed afterwards unless
        ``retain_graph=True``; a second backward() through a freed graph raises RuntimeError.
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad (no input that "
                               "requires grad was used, or it was computed under no_grad())")
        xp = get_array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward(): grad can be implied only for a single number, "
                                   f"this tensor has shape {self.shape}")
            grad = xp.ones_like(self.data)
        else:
            grad = _as_array(grad, self.dtype)
            if grad.shape != self.data.shape:
                raise ShapeError("backward", f"grad of shape {self.shape}", tuple(grad.shape))

        grads = {id(self): grad}
        for node in topological_order(self):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._graph_freed:
                raise RuntimeError(
                    "backward(): trying to backward through the graph a second time: the first "
                    f"backward() freed the ops behind this tensor (shape {node.shape}); pass "
                    "retain_graph=True to the first backward() to keep them, or recompute the forward")
            if node._ctx is None or node._retain_grad:
                accumulate(node, g)
            fn = node._ctx
            if fn is None:
                continue
            for inp, gi in zip(fn.inputs, _checked_grads(fn, fn.backward(g))):
                if gi is None or inp is None or not inp.requires_grad:
                    continue
                gi = sum_to_shape(gi, inp.shape)
                if gi.dtype != inp.dtype:
                    gi = gi.astype(inp.dtype)
                key = id(inp)
                grads[key] = gi if key not in grads else grads[key] + gi
            if not retain_graph:
                free(node)         # saved arrays go with the Function

    def zero_grad(self) -> None:
        self.grad = None

    # comparisons give plain boolean Tensors (no gradient); hashing stays by identity
    __hash__ = object.__hash__
    def __eq__(self, other): return Tensor(self.data == _raw(other))  # noqa: E704
    def __ne__(self, other): return Tensor(self.data != _raw(other))  # noqa: E704
    def __lt__(self, other): return Tensor(self.data < _raw(other))
    def __le__(self, other): return Tensor(self.data <= _raw(other))
    def __gt__(self, other): return Tensor(self.data > _raw(other))
    def __ge__(self, other): return Tensor(self.data >= _raw(other))

    def __bool__(self) -> bool:
        """The truth of a one-element tensor; more elements are ambiguous (use .any() or .all())."""
        if self.data.size != 1:
            raise RuntimeError(f"bool(): the truth value of a tensor of shape {self.shape} is "
                               f"ambiguous; use .any() or .all()")
        return bool(self.data.reshape(()).item())


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _checked_grads(fn: "Function", grads) -> tuple:
    """A Function's backward result as one gradient (array or None) per input, checked.

    A lone array is taken as the gradient of a one-input op. The count must equal the number of
    inputs, and each gradient must have its input's shape or a shape that input broadcasts to
    (the engine sums the broadcast away); otherwise the error names the op.
    """
    name = fn.name()
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(fn.inputs):
        raise RuntimeError(f"{name}.backward returned {len(grads)} gradient(s) for {len(fn.inputs)} "
                           f"input(s) of forward; return one per input, None for one that needs none")
    for i, (inp, gi) in enumerate(zip(fn.inputs, grads)):
        if gi is None or inp is None:
            continue
        if not hasattr(gi, "shape") or isinstance(gi, Tensor):
            raise TypeError(f"{name}.backward: gradient {i} must be an ndarray (or None), "
                            f"got {type(gi).__name__}")
        shape = tuple(gi.shape)
        if shape != inp.shape and not _broadcasts_to(inp.shape, shape):
            raise ShapeError(f"{name}.backward", f"gradient {i} of input {i}'s shape {inp.shape} "
                             f"(or a shape it broadcasts to)", shape)
    return tuple(grads)


def _broadcasts_to(shape: tuple, target: tuple) -> bool:
    """Whether an array of ``shape`` stretches to ``target`` under NumPy's broadcasting."""
    return len(shape) <= len(target) and all(
        n in (1, m) for n, m in zip(reversed(shape), reversed(target)))


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """PyTorch's spelling of Tensor(data)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


class Function:
    """A differentiable op. Subclasses write two methods, side by side:

    forward(*arrays, **options) -> array    computes the output from raw ndarrays and keeps on
                                            ``self`` whatever backward needs (the cache)
    backward(grad) -> tuple                 dL/d(input) for each input, or None for an input that
                                            needs none (``self.needs_input_grad[i]`` is False)

    ``Op.apply(*inputs, **options)`` wraps numbers and arrays as constant Tensors (an optional
    input may be None, e.g. a missing bias), runs forward, and records the op in the graph when
    some input requires grad.
    """

    inputs: tuple[Tensor, ...] = ()
    needs_input_grad: tuple[bool, ...] = ()

    @classmethod
    def apply(cls, *inputs, **options) -> Tensor:
        tensors = _as_tensors(inputs)
        _check_same_device(cls.__name__, tensors)
        fn = cls()
        # which inputs backward will be asked about: none when no graph is recorded, so forward
        # can skip caching what only the backward pass would read
        fn.needs_input_grad = tuple(is_grad_enabled() and t is not None and t.requires_grad for t in tensors)
        out = Tensor(fn.forward(*(None if t is None else t.data for t in tensors), **options))
        if any(fn.needs_input_grad):
            out.requires_grad = True
            fn.inputs = tuple(edge(t) for t in tensors)
            out._ctx = fn
        if getattr(_grad_state, "recorder", None) is not None:
            _grad_state.recorder(cls, tensors, options, out)
        return out

    def name(self) -> str:
        """The op's name, its class name (e.g. 'Mul', 'Conv2d'), as PyTorch's grad_fn.name()."""
        return type(self).__name__

    def __repr__(self) -> str:
        shapes = ", ".join("None" if t is None else str(t.shape) for t in self.inputs)
        return f"<{self.name()} of inputs {shapes}>" if self.inputs else f"<{self.name()}>"

    def forward(self, *arrays, **options):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError


def _as_tensors(inputs) -> tuple[Tensor, ...]:
    """Wrap non-Tensor inputs as constants; a Python number takes the float dtype of the tensors
    beside it, so ``x * 2`` stays float32 for a float32 ``x``."""
    like = next((t.data for t in inputs if isinstance(t, Tensor) and t.dtype.kind == "f"), None)
    out = []
    for x in inputs:
        if x is None or isinstance(x, Tensor):
            out.append(x)
        elif like is not None and isinstance(x, (int, float, np.generic)) and not isinstance(x, bool):
            out.append(Tensor(get_array_module(like).asarray(x, dtype=like.dtype)))
        else:
            out.append(Tensor(x))
    return tuple(out)


def _check_same_device(op: str, tensors) -> None:
    tensors = [t for t in tensors if t is not None]
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        shown = ", ".join(f"{t.device} {t.shape}" for t in tensors)
        raise RuntimeError(f"{op}: inputs are on different devices ({shown}); "
                           f"move them with .to('cpu') or .to('cuda') first")
