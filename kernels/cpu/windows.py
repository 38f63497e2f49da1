"""Numba im2col and col2im: the columns of a convolution and their adjoint.

Same signatures and results as the references in ``minidl.functional.conv``. Each element is
visited once; the rows (im2col) or the (channel, block of images) slabs (col2im) are shared out
over the cores (``threads.split``); with ``one_thread=True`` the loops run on the calling thread
alone (the convolution's worker threads, ``threads.py``, each take a share of the images instead).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from ...geometry import out_array, window_geometry
from ..checks import col2im_geometry
from . import threads
from .common import ONE_THREAD, SHARES, float_array, u


@njit(cache=True)
def valid_range(offset, stride, count, size):
    """The outputs o in [lo, hi) whose input index o * stride + offset lies in [0, size); both
    within [0, count] (the outputs before lo are padding: callers zero range(lo))."""
    lo = min(count, max(0, -(offset // stride)))
    hi = min(count, (size - 1 - offset) // stride + 1) if size - 1 - offset >= 0 else 0
    return lo, max(lo, hi)


@njit(**ONE_THREAD)
def im2col_rows(r0, r1, x, cols, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    # The rows r = (channel ch, offset i, j) in [r0, r1): whole rows, front to back, reading one
    # shifted input plane per image.
    for r in range(r0, r1):
        ch, i, j = r // (kh * kw), (r // kw) % kh, r % kw
        y0, x0 = i * dh - ph, j * dw - pw
        oy_lo, oy_hi = valid_range(y0, sh, oh, h)
        ox_lo, ox_hi = valid_range(x0, sw, ow, w)
        for b in range(n):
            out = (r * n + b) * oh * ow                  # image b's part of row r
            plane = (b * c + ch) * h * w
            for oy in range(oh):
                row = out + oy * ow
                if oy < oy_lo or oy >= oy_hi:
                    for ox in range(ow):
                        cols[u(row + ox)] = 0
                    continue
                base = plane + (oy * sh + y0) * w + x0
                for ox in range(ox_lo):
                    cols[u(row + ox)] = 0
                if sw == 1:     # a contiguous run, which LLVM copies with vector loads and stores
                    for ox in range(ox_lo, ox_hi):
                        cols[u(row + ox)] = x[u(base + ox)]
                else:
                    for ox in range(ox_lo, ox_hi):
                        cols[u(row + ox)] = x[u(base + ox * sw)]
                for ox in range(ox_hi, ow):
                    cols[u(row + ox)] = 0


@njit(**SHARES)
def im2col_rows_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        im2col_rows(bounds[s], bounds[s + 1], *args)


@njit(**ONE_THREAD)
def col2im_tasks(t0, t1, cols, dx, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, chunk):
    # The tasks t = (channel, block of `chunk` images) in [t0, t1): the block's dx planes stay in
    # cache while the task reads its stretch of each of the channel's kh*kw rows of cols front to
    # back.
    blocks = (n + chunk - 1) // chunk
    for t in range(t0, t1):
        ch, b0 = t // blocks, (t % blocks) * chunk
        b1 = min(n, b0 + chunk)
        for b in range(b0, b1):
            p = b * c + ch
            for q in range(p * h * w, (p + 1) * h * w):
                dx[u(q)] = 0
        # Same (i, j) order of additions as the reference, so every sum rounds the same way.
        for i in range(kh):
            y0 = i * dh - ph
            oy_lo, oy_hi = valid_range(y0, sh, oh, h)
            for j in range(kw):
                x0 = j * dw - pw
                ox_lo, ox_hi = valid_range(x0, sw, ow, w)
                row = ((ch * kh + i) * kw + j) * n * oh * ow
                for b in range(b0, b1):
                    p = b * c + ch
                    col = row + b * oh * ow
                    for oy in range(oy_lo, oy_hi):
                        base = (p * h + oy * sh + y0) * w + x0
                        r = col + oy * ow
                        for ox in range(ox_lo, ox_hi):
                            dx[u(base + ox * sw)] += cols[u(r + ox)]


@njit(**SHARES)
def col2im_tasks_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        col2im_tasks(bounds[s], bounds[s + 1], *args)


# A col2im task keeps this many bytes of dx planes in cache (half of a 512 kB L2 cache).
_COL2IM_SLAB = 256 << 10


def _col2im_chunk(n: int, c: int, plane_bytes: int, threads: int) -> int:
    """Images per col2im task: as many as fit the slab, but enough tasks to keep the cores busy."""
    chunk = max(1, min(n, _COL2IM_SLAB // plane_bytes))
    while chunk > 1 and c * -(-n // chunk) < 4 * threads:
        chunk = -(-chunk // 2)
    return chunk


def im2col(x, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1), out=None, one_thread=False):
    """(N, C, H, W) -> columns (C*kh*kw, N*OH*OW); the layout of the reference im2col."""
    x = float_array(x, "x", "im2col", (4,))
    n, c, h, w = x.shape
    kh, kw, (sh, sw), (ph, pw), (dh, dw), oh, ow = window_geometry(
        "im2col", (h, w), kh, kw, stride, padding, dilation)
    cols = out_array(out, (c * kh * kw, n * oh * ow), x.dtype, "im2col", np)
    args = (x.reshape(-1), cols.reshape(-1), n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
    if one_thread:
        im2col_rows(0, c * kh * kw, *args)
    else:
        threads.split(im2col_rows_shares, c * kh * kw, cols.size, *args)
    return cols


def col2im(cols, x_shape, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1), one_thread=False):
    """Columns (C*kh*kw, N*OH*OW) -> image (N, C, H, W), summing where windows overlap."""
    cols = float_array(cols, "cols", "col2im", (2,))
    (n, c, h, w), (kh, kw, (sh, sw), (ph, pw), (dh, dw), oh, ow) = col2im_geometry(
        cols, x_shape, kh, kw, stride, padding, dilation)
    dx = np.empty((n, c, h, w), dtype=cols.dtype)
    chunk = _col2im_chunk(n, c, h * w * dx.itemsize, 1 if one_thread else numba.get_num_threads())
    args = (cols.reshape(-1), dx.reshape(-1), n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, chunk)
    tasks = c * -(-n // chunk)
    if one_thread:
        col2im_tasks(0, tasks, *args)
    else:
        threads.split(col2im_tasks_shares, tasks, cols.size, *args)
    return dx

