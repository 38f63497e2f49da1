"""Numba depthwise convolution (groups == in channels == out channels, MobileNet's): each channel
convolved with its own kh x kw filter, a share of the (image, channel) planes (or, for dL/dW,
of the channels) per core (``threads.split``).

As im2col + a product, a depthwise layer is C products of a 1 x kh*kw row with its channel's
columns: tiny products and columns kh*kw times the input. These loops read the plane in place:
for each kernel offset, every output row gets w[c, i, j] times a shifted input row.
The conv2d_forward and conv2d_backward kernels (conv.py) come here for depthwise layers.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import threads
from .common import ONE_THREAD, SHARES, u
from .windows import valid_range


@njit(**ONE_THREAD)
def _forward(p0, p1, x, w, y, c, h, wd, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    for p in range(p0, p1):
        xo, yo, wo = p * h * wd, p * oh * ow, (p % c) * kh * kw
        for q in range(yo, yo + oh * ow):
            y[u(q)] = 0
        for i in range(kh):
            y0 = i * dh - ph
            oy_lo, oy_hi = valid_range(y0, sh, oh, h)
            for j in range(kw):
                x0 = j * dw - pw
                ox_lo, ox_hi = valid_range(x0, sw, ow, wd)
                wv = w[u(wo + i * kw + j)]
                for oy in range(oy_lo, oy_hi):
                    base, row = xo + (oy * sh + y0) * wd + x0, yo + oy * ow
                    if sw == 1:     # a contiguous run: vector loads and stores
                        for ox in range(ox_lo, ox_hi):
                            y[u(row + ox)] += wv * x[u(base + ox)]
                    else:
                        for ox in range(ox_lo, ox_hi):
                            y[u(row + ox)] += wv * x[u(base + ox * sw)]


@njit(**SHARES)
def _forward_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _forward(bounds[s], bounds[s + 1], *args)


@njit(**ONE_THREAD)
def _backward_input(p0, p1, g, w, dx, c, h, wd, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """dx[c, oy s + i d - p, ox s + j d - p] += w[c, i, j] g[c, oy, ox], plane by plane."""
    for p in range(p0, p1):
        xo, go, wo = p * h * wd, p * oh * ow, (p % c) * kh * kw
        for q in range(xo, xo + h * wd):
            dx[u(q)] = 0
        for i in range(kh):
            y0 = i * dh - ph
            oy_lo, oy_hi = valid_range(y0, sh, oh, h)
            for j in range(kw):
                x0 = j * dw - pw
                ox_lo, ox_hi = valid_range(x0, sw, ow, wd)
                wv = w[u(wo + i * kw + j)]
                for oy in range(oy_lo, oy_hi):
                    base, row = xo + (oy * sh + y0) * wd + x0, go + oy * ow
                    for ox in range(ox_lo, ox_hi):
                        dx[u(base + ox * sw)] += wv * g[u(row + ox)]


@njit(**SHARES)
def _backward_input_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _backward_input(bounds[s], bounds[s + 1], *args)


@njit(**ONE_THREAD)
def _backward_weight(c0, c1, g, x, dwt, n, c, h, wd, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """dW[c, i, j] = sum over images and outputs of g[n, c, oy, ox] x[n, c, oy s + i d - p, ...],
    for the channels [c0, c1), summed in float64."""
    for ch in range(c0, c1):
        for i in range(kh):
            y0 = i * dh - ph
            oy_lo, oy_hi = valid_range(y0, sh, oh, h)
            for j in range(kw):
                x0 = j * dw - pw
                ox_lo, ox_hi = valid_range(x0, sw, ow, wd)
                acc = 0.0
                for b in range(n):
                    p = b * c + ch
                    for oy in range(oy_lo, oy_hi):
                        base, row = p * h * wd + (oy * sh + y0) * wd + x0, p * oh * ow + oy * ow
                        for ox in range(ox_lo, ox_hi):
                            acc += np.float64(g[u(row + ox)]) * x[u(base + ox * sw)]
                dwt[u((ch * kh + i) * kw + j)] = acc


@njit(**SHARES)
def _backward_weight_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _backward_weight(bounds[s], bounds[s + 1], *args)


def depthwise_forward(x, w, b, geometry):
    """x (N, C, H, W) float, w (C, 1, kh, kw) -> y (N, C, OH, OW); ``geometry`` is window_geometry's."""
    kh, kw, (sh, sw), (ph, pw), (dh, dw), oh, ow = geometry
    n, c, h, wd = x.shape
    x, w = np.ascontiguousarray(x), np.ascontiguousarray(w, dtype=x.dtype)
    y = np.empty((n, c, oh, ow), dtype=x.dtype)
    threads.split(_forward_shares, n * c, x.size, x.reshape(-1), w.reshape(-1), y.reshape(-1), c, h, wd, kh, kw,
                  sh, sw, ph, pw, dh, dw, oh, ow)
    if b is not None:
        y += b.reshape(1, c, 1, 1)
    return y


def depthwise_backward(g, x, w, geometry, need_dx=True, need_dw=True):
    """dL/dy (N, C, OH, OW) -> (dL/dx or None, dL/dW (C, 1, kh, kw) or None)."""
    kh, kw, (sh, sw), (ph, pw), (dh, dw), oh, ow = geometry
    n, c, h, wd = x.shape
    g = np.ascontiguousarray(g, dtype=x.dtype)
    args = (c, h, wd, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
    dx = dwt = None
    if need_dx:
        dx = np.empty(x.shape, dtype=x.dtype)
        threads.split(_backward_input_shares, n * c, x.size, g.reshape(-1),
                      np.ascontiguousarray(w, dtype=x.dtype).reshape(-1), dx.reshape(-1), *args)
    if need_dw:
        dwt = np.empty(w.shape, dtype=np.float64)
        threads.split(_backward_weight_shares, c, x.size, g.reshape(-1), np.ascontiguousarray(x).reshape(-1),
                      dwt.reshape(-1), n, *args)
        dwt = dwt.astype(x.dtype)
    return dx, dwt
