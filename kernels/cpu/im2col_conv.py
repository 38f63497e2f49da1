"""The im2col convolution of the lecture, a block of images at a time, as one Numba loop per
share of the batch: the layers no faster path takes (strided layers, the lab's 5x5 layers).

For a block of m images, the columns X_col (C*kh*kw, m*OH*OW) hold every window (``im2col_rows``,
the lecture's im2col), and with W_row = w as (F, C*kh*kw) and G dL/dy as (F, m*OH*OW):

    y     = W_row @ X_col                       forward
    dW^T += X_col @ G^T                         summed over the blocks of a share
    dX    = col2im(W_row^T @ G)                 overlapping windows summed back (``col2im_tasks``)

Each product is a BLAS call from compiled code (``blas.function``, cblas_?gemm, the GIL
released), so a whole share runs without returning to Python. A block's columns take at most
BLOCK_BYTES, still in the cache when the product reads them. The same results as
``kernels/blocked_conv.py`` (its NumPy version) up to the order of dL/dW's sums.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import blas, threads
from .common import ONE_THREAD, SHARES, u
from .blas import NO_TRANS, ROW_MAJOR, TRANS, address
from .windows import col2im_tasks, im2col_rows

# A block of columns small enough to stay in a core's L2 cache (1 MB on Zen 4) while the
# products read it.
BLOCK_BYTES = 1 << 20


@njit(**ONE_THREAD)
def _forward(i0, i1, gemm, x, w, y, c, h, wd, f, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, block):
    # x (N, C, H, W), w (F, C*kh*kw), flat -> y (N, F, OH, OW), flat, for the images [i0, i1).
    rows, pos = c * kh * kw, oh * ow
    cols = np.empty(rows * block * pos, dtype=x.dtype)
    out = np.empty(f * block * pos, dtype=x.dtype)
    for i in range(i0, i1, block):
        mb = min(block, i1 - i)
        im2col_rows(0, rows, x[u(i * c * h * wd):], cols, mb, c, h, wd, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
        if mb == 1:                                  # one image: the product lands in y directly
            gemm(ROW_MAJOR, NO_TRANS, NO_TRANS, f, pos, rows, 1.0, address(w, 0), rows,
                 address(cols, 0), pos, 0.0, address(y, i * f * pos), pos)
            continue
        gemm(ROW_MAJOR, NO_TRANS, NO_TRANS, f, mb * pos, rows, 1.0, address(w, 0), rows,
             address(cols, 0), mb * pos, 0.0, address(out, 0), mb * pos)
        for b in range(mb):                          # (F, m, OH*OW) -> (m, F, OH*OW)
            for fo in range(f):
                src, dst = (fo * mb + b) * pos, ((i + b) * f + fo) * pos
                for q in range(pos):
                    y[u(dst + q)] = out[u(src + q)]


@njit(**SHARES)
def _forward_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _forward(bounds[s], bounds[s + 1], *args)


@njit(**ONE_THREAD)
def _backward(s0, s1, images, gemm, g, x, w, dx, dwt, need_dx, need_dw, c, h, wd, f, kh, kw, sh, sw,
              ph, pw, dh, dw, oh, ow, block):
    # For each share s in [s0, s1), the images [images[s], images[s + 1]), a block at a time:
    # dL/dx into dx (N, C, H, W), and dL/dW, transposed, summed into the share's own
    # (C*kh*kw, F) of dwt (X_col @ G^T: BLAS is faster at it than at G @ X_col^T).
    rows, pos = c * kh * kw, oh * ow
    cols = np.empty(rows * block * pos, dtype=x.dtype)
    gb = np.empty(f * block * pos, dtype=x.dtype)
    for s in range(s0, s1):
        for i in range(images[s], images[s + 1], block):
            mb = min(block, images[s + 1] - i)
            for b in range(mb):                      # G_b: (m, F, OH*OW) -> (F, m*OH*OW)
                for fo in range(f):
                    src, dst = ((i + b) * f + fo) * pos, (fo * mb + b) * pos
                    for q in range(pos):
                        gb[u(dst + q)] = g[u(src + q)]
            if need_dw:
                im2col_rows(0, rows, x[u(i * c * h * wd):], cols, mb, c, h, wd, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
                gemm(ROW_MAJOR, NO_TRANS, TRANS, rows, f, mb * pos, 1.0, address(cols, 0), mb * pos,
                     address(gb, 0), mb * pos, 1.0, address(dwt, s * rows * f), f)
            if need_dx:
                gemm(ROW_MAJOR, TRANS, NO_TRANS, rows, mb * pos, f, 1.0, address(w, 0), rows,
                     address(gb, 0), mb * pos, 0.0, address(cols, 0), mb * pos)
                col2im_tasks(0, c, cols, dx[u(i * c * h * wd):], mb, c, h, wd, kh, kw, sh, sw, ph, pw, dh, dw,
                        oh, ow, mb)


@njit(**SHARES)
def _backward_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _backward(bounds[s], bounds[s + 1], *args)


def _block(n, rows, positions, itemsize):
    """Images per block: their columns in at most BLOCK_BYTES."""
    return max(1, min(n, BLOCK_BYTES // (rows * positions * itemsize)))


def im2col_conv2d_forward(x, w, geometry, out):
    """x (N, C, H, W), w (F, C, kh, kw), C-contiguous of one dtype, ``geometry`` window_geometry's
    -> y written into ``out`` (N, F, OH, OW), a share of the images per thread."""
    kh, kw, (sh, sw), (ph, pw), (dh, dw), oh, ow = geometry
    (n, c, h, wd), f = x.shape, w.shape[0]
    block = _block(threads.largest_share(n), c * kh * kw, oh * ow, x.itemsize)
    threads.split(_forward_shares, n, x.size + out.size, blas.function(x.dtype), x.reshape(-1), w.reshape(-1),
                  out.reshape(-1), c, h, wd, f, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, block,
                  blas_one_thread=True)
    return out


def im2col_conv2d_backward(g, x, w, geometry, need_dx, need_dw, dx_out):
    """dL/dy (N, F, OH, OW), x, w as for the forward pass -> (dL/dx written into ``dx_out`` or
    None, dL/dW (F, C, kh, kw) or None), a share of the images per thread, dL/dW summed over
    the shares after."""
    kh, kw, (sh, sw), (ph, pw), (dh, dw), oh, ow = geometry
    (n, c, h, wd), f = x.shape, w.shape[0]
    images = threads.share_bounds(n)
    block = _block(threads.largest_share(n), c * kh * kw, oh * ow, x.itemsize)
    dwt = np.zeros((images.size - 1, c * kh * kw, f), dtype=g.dtype)
    dx = dx_out if need_dx else np.empty(1, dtype=g.dtype)
    threads.split(_backward_shares, images.size - 1, x.size + g.size, images, blas.function(g.dtype),
                  g.reshape(-1), x.reshape(-1), w.reshape(-1), dx.reshape(-1), dwt.reshape(-1), need_dx, need_dw,
                  c, h, wd, f, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, block, blas_one_thread=True)
    return (dx_out if need_dx else None), (np.ascontiguousarray(dwt.sum(0).T).reshape(w.shape) if need_dw else None)
