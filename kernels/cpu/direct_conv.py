"""A stride-1 convolution of one-channel images (a grey first layer), summed directly.

With one input channel im2col's product has a single row per window position: kh*kw rows of
columns, a copy of the image kh*kw times over, multiplied by a matrix of F rows. Here each image
is padded once into a flat buffer whose rows are followed by the padding (as in
``shifted_conv.py``), so that window offset (i, j) of every output position q of the padded grid
reads element q + i*Wp + j:

    y_f[q]      = sum_ij  w[f, i, j] x[q + i*Wp + j]        a row of taps per pass over q
    dW[f, i, j] = sum_q   g_f[q] x[q + i*Wp + j]            g_f: dL/dy, 0 off the outputs
    dx[q + i*Wp + j] += w[f, i, j] g_f[q]

The grid's extra columns are computed and thrown away. Each pass over q takes up to four taps
of a window row at once, so that an output is loaded and stored once for four multiply-adds.
Each thread runs a share of the images (``threads.split``); the same results as the
references in ``minidl.functional.conv`` up to the order of the additions (dL/dW sums each
image's positions in float64 after a vectorised float32 dot product).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import threads
from .common import ONE_THREAD, SHARES, pad_plane, u


@njit(**ONE_THREAD)
def _taps_into(acc, src, w, base, start, count, length):
    # acc[q] += sum_{j < count} w[base + j] src[start + q + j], four taps per pass
    j = 0
    while j + 4 <= count:
        w0, w1, w2, w3 = w[u(base + j)], w[u(base + j + 1)], w[u(base + j + 2)], w[u(base + j + 3)]
        s = start + j
        for q in range(length):
            acc[u(q)] += (w0 * src[u(s + q)] + w1 * src[u(s + q + 1)]
                          + w2 * src[u(s + q + 2)] + w3 * src[u(s + q + 3)])
        j += 4
    while j < count:
        wj, s = w[u(base + j)], start + j
        for q in range(length):
            acc[u(q)] += wj * src[u(s + q)]
        j += 1


@njit(**ONE_THREAD)
def _forward(i0, i1, x, w, y, h, wd, f, kh, kw, ph, pw, oh, ow):
    hp, wp = oh + kh - 1, ow + kw - 1                # the padded image: H + 2ph rows, W + 2pw columns
    xp = np.zeros(hp * wp + kw, dtype=x.dtype)       # + kw: the last grid row's overhang
    acc = np.empty(oh * wp, dtype=x.dtype)
    for n in range(i0, i1):
        pad_plane(x, n * h * wd, h, wd, xp, hp, wp, ph, pw)
        for fo in range(f):
            for q in range(oh * wp):
                acc[u(q)] = 0
            for i in range(kh):
                _taps_into(acc, xp, w, (fo * kh + i) * kw, i * wp, kw, oh * wp)
            o = (n * f + fo) * oh * ow
            for r in range(oh):
                for q in range(ow):
                    y[u(o + r * ow + q)] = acc[u(r * wp + q)]


@njit(**SHARES)
def _forward_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _forward(bounds[s], bounds[s + 1], *args)


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _dots(a, b, start, length, dw, t, count):
    """dw[t + j] += sum_q a[q] b[start + j + q] for j < count, q < length: up to four taps per
    pass over a (reassociated, so that the sums vectorise; in a's dtype, added to float64)."""
    j = 0
    while j + 4 <= count:
        s0 = s1 = s2 = s3 = a[0] * 0
        s = start + j
        for q in range(length):
            aq = a[u(q)]
            s0 += aq * b[u(s + q)]
            s1 += aq * b[u(s + q + 1)]
            s2 += aq * b[u(s + q + 2)]
            s3 += aq * b[u(s + q + 3)]
        dw[u(t + j)] += s0
        dw[u(t + j + 1)] += s1
        dw[u(t + j + 2)] += s2
        dw[u(t + j + 3)] += s3
        j += 4
    while j < count:
        s0 = a[0] * 0
        s = start + j
        for q in range(length):
            s0 += a[u(q)] * b[u(s + q)]
        dw[u(t + j)] += s0
        j += 1


@njit(**ONE_THREAD)
def _backward(s0, s1, images, g, x, w, dx, dw, need_dx, need_dw, h, wd, f, kh, kw, ph, pw, oh, ow):
    # For each share s in [s0, s1), the images [images[s], images[s + 1]): dL/dx, and dL/dW
    # summed into the share's own float64 row of dw (shares, F*kh*kw).
    hp, wp = oh + kh - 1, ow + kw - 1
    xp = np.zeros(hp * wp + kw, dtype=x.dtype)
    gg = np.zeros(oh * wp, dtype=x.dtype)            # dL/dy on the grid: 0 in the extra columns
    dxp = np.empty(hp * wp + kw, dtype=x.dtype)
    for share in range(s0, s1):
        row = share * f * kh * kw
        for n in range(images[share], images[share + 1]):
            if need_dw:
                pad_plane(x, n * h * wd, h, wd, xp, hp, wp, ph, pw)
            if need_dx:
                dxp[:] = 0
            for fo in range(f):
                o = (n * f + fo) * oh * ow
                for r in range(oh):
                    for q in range(ow):
                        gg[u(r * wp + q)] = g[u(o + r * ow + q)]
                for i in range(kh):
                    if need_dw:
                        _dots(gg, xp, i * wp, oh * wp, dw, row + (fo * kh + i) * kw, kw)
                    if need_dx:
                        for j in range(kw):
                            wt, s = w[u((fo * kh + i) * kw + j)], i * wp + j
                            for q in range(oh * wp):
                                dxp[u(s + q)] += wt * gg[u(q)]
            if need_dx:                              # the inside of the padded grid: the image
                for y in range(h):
                    o, s = (n * h + y) * wd, (y + ph) * wp + pw
                    for q in range(wd):
                        dx[u(o + q)] = dxp[u(s + q)]


@njit(**SHARES)
def _backward_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _backward(bounds[s], bounds[s + 1], *args)


def direct_conv2d_forward(x, w, padding, oh, ow, out):
    """x (N, 1, H, W), w (F, 1, kh, kw), one dtype, C-contiguous -> y written into ``out``
    (N, F, OH, OW), stride 1, a share of the images per thread."""
    m, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    threads.split(_forward_shares, m, x.size + out.size, x.reshape(-1), w.reshape(-1), out.reshape(-1),
                  h, wd, f, kh, kw, *padding, oh, ow)
    return out


def direct_conv2d_backward(g, x, w, padding, need_dx, need_dw, dx_out):
    """dL/dy (N, F, OH, OW) -> (dL/dx written into ``dx_out`` or None, dL/dW (F, 1, kh, kw) or
    None), a share of the images per thread, dL/dW summed over the shares after."""
    m, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    images = threads.share_bounds(m)
    dw = np.zeros((images.size - 1, f * kh * kw), dtype=np.float64)
    dx = dx_out if need_dx else np.empty(1, dtype=x.dtype)
    threads.split(_backward_shares, images.size - 1, x.size + g.size, images, g.reshape(-1), x.reshape(-1),
                  w.reshape(-1), dx.reshape(-1), dw.reshape(-1), need_dx, need_dw, h, wd, f, kh, kw, *padding,
                  *g.shape[2:])
    return (dx_out if need_dx else None), (dw.sum(0).astype(x.dtype).reshape(w.shape) if need_dw else None)
