"""Numba max-pooling, forward (value and winner of each window) and backward (route the
gradient to the winner). Same signatures and results as the references in
``minidl.functional.pool``; each core takes a share of the (image, channel) planes
(``threads.split``).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...geometry import window_geometry
from ..checks import pool_backward_argmax
from . import threads
from .common import ONE_THREAD, SHARES, float_array, u


@njit(cache=True)
def _max_pool_plane_exact(x, out, argmax, p, h, w, kh, kw, sh, sw, ph, pw, oh, ow):
    """One plane, exactly like argmax over the -inf-padded window: the first maximum in
    row-major order wins, the first NaN beats every number, and window offset 0 keeps the win
    while everything seen is -inf."""
    plane = p * h * w
    for oy in range(oh):
        y0 = oy * sh - ph
        for ox in range(ow):
            x0 = ox * sw - pw
            best = -np.inf
            at = y0 * w + x0
            for i in range(max(0, -y0), min(kh, h - y0)):
                r = (y0 + i) * w + x0
                for j in range(max(0, -x0), min(kw, w - x0)):
                    v = x[u(plane + r + j)]
                    if v > best or (v != v and best == best):
                        best = v
                        at = r + j
            q = u((p * oh + oy) * ow + ox)
            out[q] = best
            argmax[q] = at


# The fast passes compare with ``>`` alone (the NaN test costs 5x in branch mispredictions) and
# note whether the plane holds a NaN; such a plane is redone by the exact loop above.

@njit(**ONE_THREAD)
def _max_pool2d_forward(p0, p1, x, out, argmax, h, w, kh, kw, sh, sw, ph, pw, oh, ow):
    for p in range(p0, p1):
        plane = p * h * w
        nan = False
        for oy in range(oh):
            y0 = oy * sh - ph
            i_lo, i_hi = max(0, -y0), min(kh, h - y0)
            for ox in range(ow):
                x0 = ox * sw - pw
                j_lo, j_hi = max(0, -x0), min(kw, w - x0)
                best = -np.inf
                at = y0 * w + x0
                for i in range(i_lo, i_hi):
                    r = (y0 + i) * w + x0
                    for j in range(j_lo, j_hi):
                        v = x[u(plane + r + j)]
                        nan |= v != v
                        if v > best:
                            best = v
                            at = r + j
                q = u((p * oh + oy) * ow + ox)
                out[q] = best
                argmax[q] = at
        if nan:
            _max_pool_plane_exact(x, out, argmax, p, h, w, kh, kw, sh, sw, ph, pw, oh, ow)


@njit(**SHARES)
def _max_pool2d_forward_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _max_pool2d_forward(bounds[s], bounds[s + 1], *args)


@njit(**ONE_THREAD)
def _max_pool2x2_forward(p0, p1, x, out, argmax, h, w, sh, sw, oh, ow):
    """The common 2x2 unpadded window, unrolled (4x faster than the general loop)."""
    for p in range(p0, p1):
        plane = p * h * w
        nan = False
        for oy in range(oh):
            for ox in range(ow):
                r = oy * sh * w + ox * sw
                best = x[u(plane + r)]
                at = r
                nan |= best != best
                for k in (r + 1, r + w, r + w + 1):
                    v = x[u(plane + k)]
                    nan |= v != v
                    if v > best:
                        best = v
                        at = k
                q = u((p * oh + oy) * ow + ox)
                out[q] = best
                argmax[q] = at
        if nan:
            _max_pool_plane_exact(x, out, argmax, p, h, w, 2, 2, sh, sw, 0, 0, oh, ow)


@njit(**SHARES)
def _max_pool2x2_forward_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _max_pool2x2_forward(bounds[s], bounds[s + 1], *args)


@njit(**ONE_THREAD)
def _max_pool2d_backward(p0, p1, dout, argmax, dx, hw, ohw, bad):
    """The planes [p0, p1); bad[p0] = how many argmax entries fell outside the plane (and were
    skipped)."""
    count = 0
    acc = np.empty(hw, dtype=np.float64)  # the reference's bincount sums in float64
    for p in range(p0, p1):
        for q in range(hw):
            acc[u(q)] = 0.0
        for q in range(p * ohw, (p + 1) * ohw):
            idx = argmax[u(q)]
            if idx < 0 or idx >= hw:
                count += 1
            else:
                acc[u(idx)] += dout[u(q)]
        for q in range(hw):
            dx[u(p * hw + q)] = acc[u(q)]
    bad[p0] = count


@njit(**SHARES)
def _max_pool2d_backward_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _max_pool2d_backward(bounds[s], bounds[s + 1], *args)


def max_pool2d_forward(x, kh, kw, stride, padding):
    """(N, C, H, W) -> (out (N, C, OH, OW), argmax (N, C, OH, OW) int64 flat index into H*W)."""
    x = float_array(x, "x", "max_pool2d_forward", (4,))
    n, c, h, w = x.shape
    kh, kw, (sh, sw), (ph, pw), _, oh, ow = window_geometry(
        "max_pool2d_forward", (h, w), kh, kw, stride, padding, (1, 1))
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    argmax = np.empty((n, c, oh, ow), dtype=np.int64)
    flat = x.reshape(-1), out.reshape(-1), argmax.reshape(-1), h, w
    if (kh, kw, ph, pw) == (2, 2, 0, 0):
        threads.split(_max_pool2x2_forward_shares, n * c, x.size, *flat, sh, sw, oh, ow)
    else:
        threads.split(_max_pool2d_forward_shares, n * c, x.size, *flat, kh, kw, sh, sw, ph, pw, oh, ow)
    return out, argmax


def max_pool2d_backward(dout, argmax, x_shape):
    """dout, argmax (N, C, OH, OW) -> dx (N, C, H, W) with dx[argmax] += dout."""
    dout = float_array(dout, "dout", "max_pool2d_backward", (4,))
    (n, c, h, w), argmax = pool_backward_argmax(dout, argmax, x_shape, np)
    dx = np.empty((n, c, h, w), dtype=dout.dtype)
    oh, ow = dout.shape[2:]
    counts = np.zeros(max(n * c, 1), dtype=np.int64)     # per share, at its first plane
    threads.split(_max_pool2d_backward_shares, n * c, dx.size, dout.reshape(-1), argmax.reshape(-1),
                  dx.reshape(-1), h * w, oh * ow, counts)
    bad = int(counts.sum())
    if bad:
        raise ValueError(f"max_pool2d_backward: {bad} argmax entries fall outside the {h}x{w} "
                         "input plane")
    return dx

