"""One converter per minidl op (Function class name): the traced step -> ONNX nodes.

Each converter reads the step's inputs (value names through the builder: live values or
constants), its options and its traced output (for shapes), appends nodes and binds the output.
Shapes are the traced ones except the batch: a converter that cannot keep dimension 0 free
(a reshape across it, a concatenation along it) calls ``b.tie_batch(why)``. Opset 17.
"""
from __future__ import annotations

import numpy as np

__all__ = ["CONVERTERS", "OPSET"]

OPSET = 17
CONVERTERS = {}


def converts(*names):
    def register(fn):
        for name in names:
            CONVERTERS[name] = fn
        return fn
    return register


def _out(step) -> np.dtype:
    return np.dtype(step.output.dtype)


# ----- elementwise ----------------------------------------------------------------------------
_BINARY = {"Add": "Add", "Sub": "Sub", "Mul": "Mul", "Div": "Div", "Maximum": "Max"}
_UNARY = {"Neg": "Neg", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt", "Abs": "Abs", "ReLU": "Relu",
          "Sigmoid": "Sigmoid", "Tanh": "Tanh", "ToDevice": "Identity"}


@converts(*_BINARY)
def binary(b, step):
    for t in step.inputs:       # a constant that varies along dim 0 fixes the batch size
        if not b.is_live(t) and t.ndim == step.output.ndim and t.shape[0] != 1:
            b.tie_batch(f"{step.op.__name__} with a constant of shape {t.shape}")
    names = [b.value(t, _out(step)) for t in step.inputs]
    b.bind(step.output, b.node(_BINARY[step.op.__name__], names))


@converts("AddReLU")
def add_relu(b, step):
    names = [b.value(t, _out(step)) for t in step.inputs]
    b.bind(step.output, b.node("Relu", [b.node("Add", names)]))


@converts(*_UNARY)
def unary(b, step):
    b.bind(step.output, b.node(_UNARY[step.op.__name__], [b.value(step.inputs[0])]))


@converts("LeakyReLU")
def leaky_relu(b, step):
    b.bind(step.output, b.node("LeakyRelu", [b.value(step.inputs[0])],
                               alpha=float(step.options["slope"])))


@converts("Pow")
def power(b, step):
    exponent = b.const(np.asarray(step.options["p"], dtype=_out(step)), "exponent")
    b.bind(step.output, b.node("Pow", [b.value(step.inputs[0]), exponent]))


@converts("Clip")
def clip(b, step):
    bounds = ["" if v is None else b.const(np.asarray(v, dtype=_out(step)), hint)
              for v, hint in ((step.options["lo"], "clip_min"), (step.options["hi"], "clip_max"))]
    while bounds and bounds[-1] == "":
        bounds.pop()
    b.bind(step.output, b.node("Clip", [b.value(step.inputs[0]), *bounds]))


@converts("AsType")
def cast(b, step):
    to = b.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(step.options["dtype"]))
    b.bind(step.output, b.node("Cast", [b.value(step.inputs[0])], to=to))


@converts("Softmax", "LogSoftmax")
def softmax(b, step):
    axis = step.options["axis"] % step.output.ndim
    if axis == 0:
        b.tie_batch(f"{step.op.__name__} over dimension 0")
    b.bind(step.output, b.node(step.op.__name__, [b.value(step.inputs[0])], axis=axis))


# ----- shapes ---------------------------------------------------------------------------------
@converts("Reshape")
def reshape(b, step):
    (x,), out = step.inputs, step.output.shape
    per_sample = (x.ndim and len(out) and x.shape[0] == out[0]
                  and np.prod(x.shape[1:], dtype=np.int64) == np.prod(out[1:], dtype=np.int64))
    if not per_sample:
        b.tie_batch(f"Reshape {x.shape} -> {out}")
    shape = b.ints((0, *out[1:]) if per_sample else out, "shape")   # 0: copy the batch size
    b.bind(step.output, b.node("Reshape", [b.value(x), shape]))


@converts("Permute")
def permute(b, step):
    axes = [int(a) for a in step.options["axes"]]
    if axes and axes[0] != 0:
        b.tie_batch(f"Permute {tuple(axes)} moves dimension 0")
    b.bind(step.output, b.node("Transpose", [b.value(step.inputs[0])], perm=axes))


@converts("Concatenate", "Stack")
def concatenate(b, step):
    stack = step.op.__name__ == "Stack"
    axis = step.options["axis"] % step.output.ndim
    if axis == 0:
        b.tie_batch(f"{step.op.__name__} along dimension 0")
    names = [b.value(t, _out(step)) for t in step.inputs]
    if stack:
        axes = b.ints([axis], "axes")
        names = [b.node("Unsqueeze", [n, axes]) for n in names]
    b.bind(step.output, b.node("Concat", names, axis=axis))


@converts("Pad")
def pad(b, step):
    widths = step.options["pad_width"]
    if widths[0] != (0, 0):
        b.tie_batch("Pad along dimension 0")
    pads = b.ints([lo for lo, _ in widths] + [hi for _, hi in widths], "pads")
    value = b.const(np.asarray(step.options["value"], dtype=_out(step)), "pad_value")
    b.bind(step.output, b.node("Pad", [b.value(step.inputs[0]), pads, value], mode="constant"))


@converts("GetItem")
def getitem(b, step):
    """Basic indexing (ints, slices, one Ellipsis): Slice, then Squeeze for the ints."""
    (x,), index = step.inputs, step.options["index"]
    index = index if isinstance(index, tuple) else (index,)
    if not all(isinstance(i, (int, np.integer, slice, type(Ellipsis))) for i in index) \
            or sum(i is Ellipsis for i in index) > 1:
        raise NotImplementedError(f"indexing with {index!r} (only ints, slices and one ...)")
    if Ellipsis in index:
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (x.ndim - len(index) + 1) + index[at + 1:]
    starts, ends, axes, steps, squeeze = [], [], [], [], []
    for axis, item in enumerate(index):
        if isinstance(item, slice):
            if item == slice(None):
                continue
            start, stop, stride = item.indices(x.shape[axis])
            if stride < 0 and stop < 0:
                stop = -(2 ** 63)                 # ONNX: 'before the first element'
        else:
            start = int(item) % x.shape[axis]
            stop, stride = start + 1, 1
            squeeze.append(axis)
        if axis == 0:
            b.tie_batch("indexing along dimension 0")
        starts.append(start), ends.append(stop), axes.append(axis), steps.append(stride)
    name = source = b.value(x)
    if axes:
        name = b.node("Slice", [name, b.ints(starts, "starts"), b.ints(ends, "ends"),
                                b.ints(axes, "axes"), b.ints(steps, "steps")])
    if squeeze:
        name = b.node("Squeeze", [name, b.ints(squeeze, "axes")])
    b.bind(step.output, name if name != source else b.node("Identity", [name]))


@converts("MatMul")
def matmul(b, step):
    names = [b.value(t, _out(step)) for t in step.inputs]
    b.bind(step.output, b.node("MatMul", names))


# ----- reductions -----------------------------------------------------------------------------
def _axes(step):
    axis, ndim = step.options["axis"], step.inputs[0].ndim
    axes = range(ndim) if axis is None else (axis,) if isinstance(axis, (int, np.integer)) else axis
    return sorted(int(a) % ndim for a in axes)


@converts("Mean", "Max")
def reduce_attribute(b, step):          # opset 17: axes is still an attribute of these two
    axes = _axes(step)
    if 0 in axes:
        b.tie_batch(f"{step.op.__name__} over dimension 0")
    op = {"Mean": "ReduceMean", "Max": "ReduceMax"}[step.op.__name__]
    b.bind(step.output, b.node(op, [b.value(step.inputs[0])], axes=axes,
                               keepdims=int(bool(step.options["keepdims"]))))


@converts("Sum")
def reduce_sum(b, step):                # ...and an input of ReduceSum
    axes = _axes(step)
    if 0 in axes:
        b.tie_batch("Sum over dimension 0")
    b.bind(step.output, b.node("ReduceSum", [b.value(step.inputs[0]), b.ints(axes, "axes")],
                               keepdims=int(bool(step.options["keepdims"]))))
