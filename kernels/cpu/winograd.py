"""A 3x3 stride-1 convolution by Winograd's minimal filtering, F(2x2, 3x3) (Lavin and Gray 2016).

A 2x2 block of outputs reads a 4x4 tile d of the padded input. Direct, that is 4 * 9 = 36
multiplications per filter and channel; through the transforms below it is 16:

    y_tile = A^T [ (G g G^T) * (B^T d B) ] A          * elementwise, g the 3x3 filter

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

Summed over the input channels, each of the 16 elementwise positions k is one matrix product over
the tiles of a block of images: M_k = U_k @ V_k, with U_k (F, C) the transformed filters and V_k
(C, T) the transformed tiles. The backward pass needs no new machinery:

    dX:  the forward pass on dL/dy, padded by 2 - p, with every filter turned by 180 degrees and
         inputs and outputs swapped (the lecture's "full convolution with the flipped kernel")
    dW:  dU_k = dY_k @ V_k^T summed over the blocks (dY_t = A dy A^T), then dg = G^T dU G,
         the adjoint of the forward pass's products and filter transform

so every product does 2.25x fewer multiply-adds than the direct convolution. The transforms are
Numba loops; one Numba call runs a share of the images end to end, the transforms and the 16
products of each block (``blas.function``, cblas_?gemm called from compiled code) with the GIL
released, so the shares that ``conv.py`` hands to each core never wait for each other. The
same results as ``minidl.functional.conv`` up to rounding; float32 errors are as large as the
direct float32 sums' (a few 1e-7 of the largest output on ResNet-20's layers).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import blas, threads
from .blas import NO_TRANS, ROW_MAJOR, TRANS, address
from .common import ONE_THREAD, SHARES, pad_plane, relu as _relu, u

# The transformed planes of one block of images, input and output together: half of a core's 2 MB
# L2 cache, so that the products read what the transforms wrote from the cache.
BLOCK_BYTES = 1 << 20

G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


# Each transform works one row of tiles at a time in two passes, first down the tiles' four (or
# two) rows into a scratch row, then along it: every loop reads and writes a few unit- or
# two-strided streams, which LLVM turns into vector instructions. Plane k of a (16, R, T) set
# of planes starts at k * ps of its flat buffer, ps = R*T + 16: at a power-of-two stride the
# 16 elements a tile reads or writes would all fall into one cache set.


@njit(**ONE_THREAD)
def _input_tiles(x, v, ps, m, c, h, w, ph, pw, th, tw, t_all):
    # x (m, C, H, W), flat -> v (16, C, t_all): B^T d B for tile t = (n, ty, tx) of the grid
    # padded by (ph, pw), plane k = 4r + s at v[k*ps + ch*t_all + t]. Each (image, channel)
    # plane is first copied, row by row, into the inside of d, whose border of padding is zeroed
    # once and never written again.
    wp, hp = 2 * tw + 2, 2 * th + 2
    d = np.zeros(hp * wp, dtype=x.dtype)
    a = np.empty(4 * wp, dtype=x.dtype)
    for ch in range(c):
        for n in range(m):
            pad_plane(x, (n * c + ch) * h * w, h, w, d, hp, wp, ph, pw)
            for ty in range(th):
                i = 2 * ty * wp
                for col in range(wp):                       # B^T d: rows 0-2, 1+2, 2-1, 1-3
                    d0, d1 = d[u(i + col)], d[u(i + wp + col)]
                    d2, d3 = d[u(i + 2 * wp + col)], d[u(i + 3 * wp + col)]
                    a[u(col)], a[u(wp + col)], a[u(2 * wp + col)], a[u(3 * wp + col)] = d0 - d2, d1 + d2, d2 - d1, d1 - d3
                o = ch * t_all + (n * th + ty) * tw
                for r in range(4):                          # (B^T d) B: the same along each row
                    k, j = o + 4 * r * ps, r * wp
                    for tx in range(tw):                    # columns 2tx, 2tx+1, 2tx+2, 2tx+3
                        p0, p1 = a[u(j + 2 * tx)], a[u(j + 2 * tx + 1)]
                        p2, p3 = a[u(j + 2 * tx + 2)], a[u(j + 2 * tx + 3)]
                        v[u(k + tx)], v[u(k + ps + tx)] = p0 - p2, p1 + p2
                        v[u(k + 2 * ps + tx)], v[u(k + 3 * ps + tx)] = p2 - p1, p1 - p3


@njit(**ONE_THREAD)
def _output_tiles(mt, ps, y, m, f, th, tw, t_all, bn, mean, inv_std, gamma, beta, add, res, relu):
    # mt (16, F, t_all) -> y (m, F, 2*th, 2*tw), flat: A^T M A for each tile; with bn, each
    # output v written as batch norm with the running statistics writes it, (v - mean) inv_std
    # gamma + beta per filter; add: then + res (y's layout); relu: then max(0, .).
    w2 = 2 * tw
    q = np.empty(4 * w2, dtype=mt.dtype)
    for fo in range(f):
        if bn:
            mu, s, g, bt = mean[fo], inv_std[fo], gamma[fo], beta[fo]
        for n in range(m):
            for ty in range(th):
                o = fo * t_all + (n * th + ty) * tw
                for r in range(4):                          # M A: columns 0+1+2, 1-2-3
                    k = o + 4 * r * ps
                    for tx in range(tw):
                        m0, m1 = mt[u(k + tx)], mt[u(k + ps + tx)]
                        m2, m3 = mt[u(k + 2 * ps + tx)], mt[u(k + 3 * ps + tx)]
                        q[u(r * w2 + 2 * tx)], q[u(r * w2 + 2 * tx + 1)] = m0 + m1 + m2, m1 - m2 - m3
                i = ((n * f + fo) * 2 * th + 2 * ty) * w2
                for x in range(w2):                         # A^T (M A): the same down each column
                    q1, q2 = q[u(w2 + x)], q[u(2 * w2 + x)]
                    top, bottom = q[u(x)] + q1 + q2, q1 - q2 - q[u(3 * w2 + x)]
                    if bn:
                        top, bottom = (top - mu) * s * g + bt, (bottom - mu) * s * g + bt
                    if add:
                        top, bottom = top + res[u(i + x)], bottom + res[u(i + w2 + x)]
                    if relu:
                        y[u(i + x)], y[u(i + w2 + x)] = _relu(top), _relu(bottom)
                    else:
                        y[u(i + x)], y[u(i + w2 + x)] = top, bottom


@njit(**ONE_THREAD)
def _gradient_tiles(g, gt, ps, m, f, th, tw, t_all):
    # dL/dy g (m, F, 2*th, 2*tw), flat -> gt (16, F, t_all): A dy A^T for each 2x2 block.
    w2 = 2 * tw
    h = np.empty(4 * w2, dtype=g.dtype)
    for fo in range(f):
        for n in range(m):
            for ty in range(th):
                i = ((n * f + fo) * 2 * th + 2 * ty) * w2
                for x in range(w2):                         # A dy: rows 0, 0+1, 0-1, -1
                    g0, g1 = g[u(i + x)], g[u(i + w2 + x)]
                    h[u(x)], h[u(w2 + x)], h[u(2 * w2 + x)], h[u(3 * w2 + x)] = g0, g0 + g1, g0 - g1, -g1
                o = fo * t_all + (n * th + ty) * tw
                for r in range(4):                          # (A dy) A^T: the same along each row
                    k = o + 4 * r * ps
                    for tx in range(tw):
                        p0, p1 = h[u(r * w2 + 2 * tx)], h[u(r * w2 + 2 * tx + 1)]
                        gt[u(k + tx)], gt[u(k + ps + tx)] = p0, p0 + p1
                        gt[u(k + 2 * ps + tx)], gt[u(k + 3 * ps + tx)] = p0 - p1, -p1


@njit(**ONE_THREAD)
def _forward(i0, i1, gemm, x, u_filters, y, c, h, w, f, ph, pw, th, tw, block, bn, mean, inv_std,
             gamma, beta, add, res, relu):
    # x (N, C, H, W), U (16, F, C), flat -> y (N, F, 2*th, 2*tw), flat, for the images [i0, i1),
    # a block of images at a time: V = the input tiles, M_k = U_k @ V_k for each of the 16
    # planes, y = A^T M A (with batch norm's evaluation, a residual and a ReLU applied as it is
    # written, _output_tiles).
    t_all = block * th * tw
    ps_v, ps_m = c * t_all + 16, f * t_all + 16
    v, mt = np.empty(16 * ps_v, dtype=x.dtype), np.empty(16 * ps_m, dtype=x.dtype)
    for i in range(i0, i1, block):
        mb = min(block, i1 - i)
        _input_tiles(x[u(i * c * h * w):], v, ps_v, mb, c, h, w, ph, pw, th, tw, t_all)
        for k in range(16):
            gemm(ROW_MAJOR, NO_TRANS, NO_TRANS, f, mb * th * tw, c, 1.0, address(u_filters, k * f * c), c,
                 address(v, k * ps_v), t_all, 0.0, address(mt, k * ps_m), t_all)
        at = u(i * f * 4 * th * tw)
        _output_tiles(mt, ps_m, y[at:], mb, f, th, tw, t_all, bn, mean, inv_std, gamma, beta, add,
                      res[at:] if add else res, relu)


@njit(**SHARES)
def _forward_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _forward(bounds[s], bounds[s + 1], *args)


@njit(**ONE_THREAD)
def _filter_products(s0, s1, images, gemm, g, x, du, c, h, w, f, ph, pw, th, tw, block):
    # dL/dy g (N, F, 2*th, 2*tw), x (N, C, H, W), flat -> dU (shares, 16, F, C), flat, zeroed:
    # for each share s in [s0, s1), the images [images[s], images[s + 1]), a block at a time,
    # dU[s]_k += dY_k @ V_k^T for each of the 16 planes.
    t_all = block * th * tw
    ps_g, ps_v = f * t_all + 16, c * t_all + 16
    gt, v = np.empty(16 * ps_g, dtype=x.dtype), np.empty(16 * ps_v, dtype=x.dtype)
    for s in range(s0, s1):
        for i in range(images[s], images[s + 1], block):
            mb = min(block, images[s + 1] - i)
            _gradient_tiles(g[u(i * f * 4 * th * tw):], gt, ps_g, mb, f, th, tw, t_all)
            _input_tiles(x[u(i * c * h * w):], v, ps_v, mb, c, h, w, ph, pw, th, tw, t_all)
            for k in range(16):
                gemm(ROW_MAJOR, NO_TRANS, TRANS, f, c, mb * th * tw, 1.0, address(gt, k * ps_g), t_all,
                     address(v, k * ps_v), t_all, 1.0, address(du, (s * 16 + k) * f * c), c)


@njit(**SHARES)
def _filter_products_shares(bounds, *args):
    for s in prange(bounds.size - 1):
        _filter_products(bounds[s], bounds[s + 1], *args)


def _tiles(oh, ow):
    return (oh + 1) // 2, (ow + 1) // 2


def _block(m, c, f, th, tw):
    """Images per block: the block's transformed planes, C of its input and F of its output (or
    gradient), at most BLOCK_BYTES together, so that the products read them from the cache the
    transforms just wrote them to."""
    return max(1, min(m, BLOCK_BYTES // (16 * (c + f) * th * tw * 4)))


def transformed_filters(w):
    """w (F, C, 3, 3) -> U (16, F, C), U_k = (G g G^T)_k for each filter and channel: two
    plain matrix products over all F*C filters at once."""
    (f, c), g = w.shape[:2], G.astype(w.dtype)
    right = (w.reshape(-1, 3) @ g.T).reshape(f * c, 3, 4)                     # g G^T
    both = g @ right.transpose(1, 0, 2).reshape(3, -1)                        # G (g G^T)
    return np.ascontiguousarray(both.reshape(4, f, c, 4).transpose(0, 3, 1, 2)).reshape(16, f, c)


def flipped_filters(w):
    """w (F, C, 3, 3) -> U (16, C, F) of the filters that carry dL/dy back to dL/dx: each window
    turned by 180 degrees, inputs and outputs swapped (w'[c, f, i, j] = w[f, c, 2 - i, 2 - j])."""
    return transformed_filters(np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)))


def _filter_gradient(du):
    """dU (16, F, C) -> dL/dW (F, C, 3, 3) = G^T dU G, the adjoint of transformed_filters."""
    f, c = du.shape[1:]
    g = G.astype(du.dtype)
    left = g.T @ du.reshape(4, -1)                                            # G^T dU, (3, 4*F*C)
    both = left.reshape(3, 4, f * c).transpose(2, 0, 1).reshape(-1, 4) @ g    # (G^T dU) G
    return np.ascontiguousarray(both.reshape(f, c, 3, 3))


def _even(a, th, tw):
    """a (m, F, OH, OW) -> (m, F, 2*th, 2*tw): itself when OH and OW are even, else a zero-padded
    copy."""
    if a.shape[2:] == (2 * th, 2 * tw):
        return a
    even = np.zeros((*a.shape[:2], 2 * th, 2 * tw), dtype=a.dtype)
    even[:, :, :a.shape[2], :a.shape[3]] = a
    return even


def winograd_conv2d_forward(x, u_filters, padding, oh, ow, out, bn=None, residual=None, relu=False):
    """x (N, C, H, W), U (16, F, C) from ``transformed_filters``, both C-contiguous of one dtype
    -> y written into ``out`` (N, F, OH, OW), C-contiguous, stride 1, a share of the images per
    thread. Applied to each output as it is written, in this order and with the operations of
    the separate kernels: bn, (mean, inv_std, gamma, beta) of shape (F,), batch norm with running
    statistics (``norm.batch_norm_forward_eval``); residual, an array like out, added; relu,
    max(0, .)."""
    (m, c, h, w), f, (ph, pw) = x.shape, u_filters.shape[1], padding
    th, tw = _tiles(oh, ow)
    even = (oh, ow) == (2 * th, 2 * tw)
    y = out if even else np.empty((m, f, 2 * th, 2 * tw), dtype=x.dtype)
    none = np.empty(0, dtype=x.dtype)
    mean, inv_std, gamma, beta = (none,) * 4 if bn is None else bn
    res = none if residual is None else _even(residual, th, tw)
    threads.split(_forward_shares, m, x.size + y.size, blas.function(x.dtype), x.reshape(-1),
                  u_filters.reshape(-1), y.reshape(-1), c, h, w, f, ph, pw, th, tw,
                  _block(threads.largest_share(m), c, f, th, tw), bn is not None, mean, inv_std, gamma, beta,
                  residual is not None, res.reshape(-1), bool(relu), blas_one_thread=True)
    if not even:
        out[...] = y[:, :, :oh, :ow]
    return out


def winograd_conv2d_input_gradient(g, u_flipped, padding, out):
    """dL/dy (N, F, OH, OW), U (16, C, F) from ``flipped_filters`` -> dL/dx written into ``out``
    (N, C, H, W): the stride-1 correlation of dL/dy, padded by 2 - p, with the flipped filters

        dx[n, c, y, x] = sum_{f, i, j} dy[n, f, y + ph - i, x + pw - j] w[f, c, i, j]

    (the forward pass again, on dL/dy). Needs padding <= 2 on each side."""
    (ph, pw), (h, w) = padding, out.shape[2:]
    return winograd_conv2d_forward(g, u_flipped, (2 - ph, 2 - pw), h, w, out)


def winograd_conv2d_filter_gradient(g, x, padding):
    """dL/dy (N, F, OH, OW), x (N, C, H, W), C-contiguous of one dtype -> dL/dW (F, C, 3, 3):
    dU_k = the sum over the images of dY_k @ V_k^T (dY_t = A dy A^T, V_t = B^T d B), each
    thread's share of the images summed apart, then G^T dU G."""
    (m, c, h, w), (f, oh, ow), (ph, pw) = x.shape, g.shape[1:], padding
    th, tw = _tiles(oh, ow)
    images = threads.share_bounds(m)
    du = np.zeros((images.size - 1, 16, f, c), dtype=g.dtype)
    threads.split(_filter_products_shares, images.size - 1, x.size + g.size, images, blas.function(g.dtype),
                  _even(g, th, tw).reshape(-1), x.reshape(-1), du.reshape(-1), c, h, w, f, ph, pw, th, tw,
                  _block(threads.largest_share(m), c, f, th, tw), blas_one_thread=True)
    return _filter_gradient(du.sum(0))

