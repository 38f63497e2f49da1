"""Convolution and max-pooling by their definitions: one loop iteration per output value.

These are the lecture's formulas written out, slow on purpose: the yardstick that the im2col ops,
the fast kernels and the lessons are checked against. They take and return NumPy arrays (no
graph) in PyTorch's argument order.
"""
from __future__ import annotations

import numpy as np

from ..geometry import output_size, pair


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """x (N, C, H, W), weight (F, C/g, kh, kw), bias (F,) or None -> (N, F, OH, OW):

        y[n, f, i, j] = b[f] + sum_{c, u, v} w[f, c, u, v] xpad[n, C/g k + c, i s + u d, j s + v d]

    with k = f // (F/g) the filter's group and xpad the zero-padded input. Each output value is
    one window's dot product with one filter.
    """
    (sh, sw), (ph, pw) = pair(stride, "stride", "conv2d", 1), pair(padding, "padding", "conv2d", 0)
    dh, dw = pair(dilation, "dilation", "conv2d", 1)
    n, _, h, w = x.shape
    f, cg, kh, kw = weight.shape
    oh, ow = output_size(h, kh, sh, ph, dh), output_size(w, kw, sw, pw, dw)
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = np.zeros((n, f, oh, ow), dtype=np.result_type(x, weight))
    for img in range(n):
        for o in range(f):
            k = o // (f // groups)
            for i in range(oh):
                for j in range(ow):
                    window = xpad[img, k * cg:(k + 1) * cg,
                                  i * sh:i * sh + dh * (kh - 1) + 1:dh, j * sw:j * sw + dw * (kw - 1) + 1:dw]
                    y[img, o, i, j] = np.sum(window * weight[o]) + (0 if bias is None else bias[o])
    return y


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """x (N, C, H, W) -> (N, C, OH, OW): y[n, c, i, j] = the largest value of window (i, j),
    padding counting as -inf."""
    kh, kw = pair(kernel_size, "kernel_size", "max_pool2d", 1)
    sh, sw = (kh, kw) if stride is None else pair(stride, "stride", "max_pool2d", 1)
    ph, pw = pair(padding, "padding", "max_pool2d", 0)
    n, c, h, w = x.shape
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    y = np.empty((n, c, oh, ow), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = xpad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].max(axis=(2, 3))
    return y
