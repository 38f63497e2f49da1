"""Converters for the layers' ops: convolution, pooling, batch norm (evaluation), dropout.

    Conv2d             Conv (pads top, left, bottom, right; groups for depthwise)
    MaxPool2d          MaxPool; DilatedMaxPool2d (its input already padded with -inf): dilations
    AvgPool2d          Pad (zeros, possibly uneven: ceil mode), AveragePool without padding (the
                       window sum / kernel area), then x area / divisor where minidl's divisor
                       is not the area (count_include_pad=False, clipped ceil-mode windows)
    AdaptiveAvgPool2d  A_h @ x @ A_w^T, two MatMuls with PyTorch's averaging matrices
    BatchNorm          BatchNormalization with the running statistics (evaluation only); Relu
                       after it where the op took the ReLU in (relu=True)
    Dropout            refused: in eval mode dropout is no op at all, so one in the trace was
                       called with training=True
"""
from __future__ import annotations

import numpy as np

from .builder import host
from .ops import CONVERTERS, converts

__all__ = ["CONVERTERS"]


@converts("Conv2d")
def conv(b, step):
    x, w, bias = step.inputs
    o = step.options
    (ph, pw), kernel = o["padding"], list(w.shape[2:])
    names = [b.value(x), b.value(w)] + ([b.value(bias)] if bias is not None else [])
    b.bind(step.output, b.node("Conv", names, kernel_shape=kernel, strides=list(o["stride"]),
                               pads=[ph, pw, ph, pw], dilations=list(o["dilation"]),
                               group=int(o["groups"])))


@converts("MaxPool2d", "DilatedMaxPool2d")
def max_pool(b, step):
    o = step.options
    ph, pw = o.get("padding", (0, 0))
    b.bind(step.output, b.node("MaxPool", [b.value(step.inputs[0])], kernel_shape=list(o["kernel"]),
                               strides=list(o["stride"]), pads=[ph, pw, ph, pw],
                               dilations=list(o.get("dilation", (1, 1)))))


@converts("AvgPool2d")
def avg_pool(b, step):
    o = step.options
    (top, bottom), (left, right) = o["pads"]
    name = b.value(step.inputs[0])
    if top or bottom or left or right:
        pads = b.ints([0, 0, top, left, 0, 0, bottom, right], "pads")
        zero = b.const(np.zeros((), step.output.dtype), "pad_value")
        name = b.node("Pad", [name, pads, zero], mode="constant")
    name = b.node("AveragePool", [name], kernel_shape=list(o["kernel"]), strides=list(o["stride"]))
    area = float(np.prod(o["kernel"]))
    divisor = host(o["divisor"])
    if not np.all(divisor == area):
        scale = (area / divisor).astype(step.output.dtype)
        name = b.node("Mul", [name, b.const(scale.reshape(1, 1, *scale.shape), "avg_pool_scale")])
    b.bind(step.output, name)


def averaging_matrix(size: int, out: int, dtype) -> np.ndarray:
    """(out, size): row i averages inputs floor(i size / out) .. ceil((i + 1) size / out) - 1."""
    a = np.zeros((out, size), dtype=dtype)
    for i in range(out):
        start, stop = (i * size) // out, -(-((i + 1) * size) // out)
        a[i, start:stop] = 1.0 / (stop - start)
    return a


@converts("AdaptiveAvgPool2d")
def adaptive_avg_pool(b, step):
    (x,), (oh, ow) = step.inputs, step.options["output_size"]
    a_h = b.const(averaging_matrix(x.shape[2], oh, x.dtype), "adaptive_rows")
    a_w = b.const(averaging_matrix(x.shape[3], ow, x.dtype).T.copy(), "adaptive_cols")
    rows = b.node("MatMul", [a_h, b.value(x)])
    b.bind(step.output, b.node("MatMul", [rows, a_w]))


@converts("BatchNorm")
def batch_norm(b, step):
    x, gamma, beta = step.inputs
    o = step.options
    if o["training"]:
        raise NotImplementedError("BatchNorm with batch statistics (training mode, or "
                                  "track_running_stats=False): only evaluation exports")
    c, dtype = x.shape[1], x.dtype
    scale = b.value(gamma) if gamma is not None else b.const(np.ones(c, dtype), "bn_scale")
    shift = b.value(beta) if beta is not None else b.const(np.zeros(c, dtype), "bn_shift")
    names = [b.value(x), scale, shift, b.constant(o["running_mean"]), b.constant(o["running_var"])]
    y = b.node("BatchNormalization", names, epsilon=float(o["eps"]))
    b.bind(step.output, b.node("Relu", [y]) if o["relu"] else y)


@converts("Dropout")
def dropout(b, step):
    raise NotImplementedError("Dropout in training mode (F.dropout(..., training=True)); in "
                              "eval mode dropout is the identity and leaves no op to export")
