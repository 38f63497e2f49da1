"""A stride-1 convolution as kh*kw shifted matrix products, with no im2col columns.

Lay each channel's images end to end in one flat buffer, every row followed by enough zeros to
stand for the padding on both sides (the zeros after row r are also the ones before row r + 1),
and every image by enough zero rows. Then window offset (i, j) of output position q, counted on
that padded grid, reads element q + i*dh*Wp + j*dw: one shift for the whole batch. So

    Y[:, q]      = sum_ij  W_ij @ X[:, q + s_ij]         W_ij = w[:, :, i, j]  (F, C)
    dX[:, q+s_ij] += W_ij^T @ G[:, q]                     G: dL/dy on the grid, 0 off the outputs
    dW_ij        = G @ X[:, s_ij : s_ij + P]^T

each a BLAS product (``blas.gemm``) of a window of the buffer, added into the last (beta = 1).
im2col copies every input kh*kw times; this copies it once. The grid's extra columns and rows
are computed and thrown away: (Hp*Wp)/(OH*OW) of the work, 1.06 for a 32x32 image with a 3x3
window, 1.27 for 8x8. Used for groups == 1 and stride 1 (``conv.py``); the same results as the
references in ``minidl.functional.conv`` up to the order of the additions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .blas import gemm


@dataclass(frozen=True)
class Grid:
    """Where everything lies in the flat buffers of one share of m images."""
    m: int
    h: int
    w: int
    oh: int
    ow: int
    hp: int                 # grid rows per image: H + zero rows (>= OH)
    wp: int                 # grid columns: W + zero columns (>= OW)
    origin: int             # the buffer index of pixel (0, 0) of image 0
    shifts: tuple           # s_ij for (i, j) in row-major order
    positions: int          # P: grid positions from the first output to the last one
    length: int             # buffer length: every shifted window of P stays inside

    @classmethod
    def of(cls, m, h, w, kh, kw, padding, dilation, oh, ow):
        (ph, pw), (dh, dw) = padding, dilation
        hp, wp = max(h + ph, oh), max(w + pw, ow)
        shifts = tuple(i * dh * wp + j * dw for i in range(kh) for j in range(kw))
        positions = (m - 1) * hp * wp + (oh - 1) * wp + ow
        origin = ph * wp + pw
        return cls(m, h, w, oh, ow, hp, wp, origin, shifts, positions,
                   max(origin + m * hp * wp, positions + shifts[-1]))

    def pixels(self, buffer):
        """The (C, m, H, W) view of ``buffer`` (C, length) where the images lie."""
        c, s = buffer.shape[0], self.hp * self.wp
        return buffer[:, self.origin:self.origin + self.m * s].reshape(c, self.m, self.hp, self.wp)[:, :, :self.h, :self.w]

    def outputs(self, grid):
        """The (F, m, OH, OW) view of ``grid`` (F, m*Hp*Wp) where the outputs lie."""
        return grid.reshape(grid.shape[0], self.m, self.hp, self.wp)[:, :, :self.oh, :self.ow]


def _padded(x, grid: Grid):
    """x (m, C, H, W) -> its buffer (C, length): zeros, the pixels at their grid places."""
    buffer = np.zeros((x.shape[1], grid.length), dtype=x.dtype)
    grid.pixels(buffer)[...] = x.transpose(1, 0, 2, 3)
    return buffer


def _taps(w):
    """w (F, C, kh, kw) -> (kh*kw, F, C), W_ij contiguous for each window offset."""
    f, c = w.shape[:2]
    return np.ascontiguousarray(w.transpose(2, 3, 0, 1)).reshape(-1, f, c)


def shifted_conv2d_forward(x, w, padding, dilation, oh, ow, out):
    """x (m, C, H, W), w (F, C, kh, kw) -> y written into ``out`` (m, F, OH, OW), stride 1."""
    m, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    grid = Grid.of(m, h, wd, kh, kw, padding, dilation, oh, ow)
    xb, taps = _padded(x, grid), _taps(w)
    y = np.empty((f, m * grid.hp * grid.wp), dtype=x.dtype)
    for t, s in enumerate(grid.shifts):         # Y += W_ij @ X[:, q + s_ij]
        gemm(x.dtype, False, False, f, grid.positions, c, taps, t * f * c, c, xb, s, grid.length,
             0.0 if t == 0 else 1.0, y, 0, y.shape[1])
    out[...] = grid.outputs(y).transpose(1, 0, 2, 3)
    return out


def shifted_conv2d_backward(g, x, w, padding, dilation, need_dx, need_dw, dx_out):
    """dL/dy (m, F, OH, OW) -> (dL/dx written into ``dx_out`` or None, dL/dW (F, C, kh, kw) or None)."""
    m, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    grid = Grid.of(m, h, wd, kh, kw, padding, dilation, *g.shape[2:])
    gg = np.zeros((f, m * grid.hp * grid.wp), dtype=g.dtype)      # 0 where no output lies
    grid.outputs(gg)[...] = g.transpose(1, 0, 2, 3)
    dw = None
    if need_dw:
        xb = _padded(x, grid)
        dw = np.empty((kh * kw, f, c), dtype=g.dtype)
        for t, s in enumerate(grid.shifts):     # dW_ij = G @ X[:, s_ij : s_ij + P]^T
            gemm(g.dtype, False, True, f, c, grid.positions, gg, 0, gg.shape[1], xb, s, grid.length,
                 0.0, dw, t * f * c, c)
        dw = np.ascontiguousarray(dw.reshape(kh, kw, f, c).transpose(2, 3, 0, 1))
    if need_dx:
        taps = _taps(w)
        dxb = np.zeros((c, grid.length), dtype=g.dtype)
        for t, s in enumerate(grid.shifts):     # dX[:, q + s_ij] += W_ij^T @ G[:, q]
            gemm(g.dtype, True, False, c, grid.positions, f, taps, t * f * c, c, gg, 0, gg.shape[1],
                 1.0, dxb, s, grid.length)
        dx_out[...] = grid.pixels(dxb).transpose(1, 0, 2, 3)
    return (dx_out if need_dx else None), dw
