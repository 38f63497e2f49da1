"""Numba fast paths for the CPU (backend "cpu"), one per hot op of a CNN training step.

Each public function has the signature of its NumPy reference (in ``minidl.functional``: the
sliding windows of ``windows``, ReLU in ``activation``, batch norm in ``norm``) and returns the
same arrays. The references loop over kernel offsets and make several passes over memory; these
loops visit each element once or twice, and ``prange`` spreads independent (image, channel)
planes, or channels, over the cores.

Compiled machine code is cached next to this file (``cache=True``), so only the first run on a
machine pays the compile time. Only float32 and float64 arrays are accepted.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from . import register
from ._checks import image_shape, out_array, window_geometry

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_JIT = dict(cache=True, parallel=True, fastmath=False)
# Below this many elements a kernel runs on the calling thread alone: waking the other threads
# costs more than it saves, and on a busy machine one descheduled worker stalls a tiny call for
# a whole time slice (measured: 16 ms instead of 18 us under load).
_PARALLEL_WORK = 1 << 16


def _run(kernel, work: int, *args):
    """kernel(*args), on one thread when ``work`` (elements touched) is small."""
    if work >= _PARALLEL_WORK:
        return kernel(*args)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------
# argument checks shared by the wrappers
# ---------------------------------------------------------------------------------------------

def _float_array(a, name: str, fn: str, ndim: tuple[int, ...] | None) -> np.ndarray:
    """``a`` as a C-contiguous float32/float64 NumPy array with one of the allowed ndims (None:
    any)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype not in _FLOATS:
        raise TypeError(f"{fn}: {name} must be float32 or float64, got {a.dtype}")
    if ndim is not None and a.ndim not in ndim:
        want = " or ".join(f"{d}-d" for d in ndim)
        raise ValueError(f"{fn}: {name} must be {want}, got shape {a.shape}")
    return np.ascontiguousarray(a)


# ---------------------------------------------------------------------------------------------
# sliding windows: im2col, col2im, max-pooling
# ---------------------------------------------------------------------------------------------

@njit(cache=True)
def _valid_range(offset, stride, count, size):
    """The outputs o in [lo, hi) whose input index o * stride + offset lies in [0, size)."""
    lo = max(0, -(offset // stride))
    hi = min(count, (size - 1 - offset) // stride + 1) if size - 1 - offset >= 0 else 0
    return lo, max(lo, hi)


# The kernels below read and write flat arrays that the wrappers allocate with NumPy: views made
# inside prange cost an atomic reference count each, and NumPy backs large arrays with huge
# pages, which Numba's allocator does not (page faults made fresh outputs 5x slower to fill).
# Every index is cast to unsigned (_u) so Numba drops its negative-index wraparound check, which
# otherwise doubles the time of these loops; the loop bounds keep every index in range.
_u = np.uint64


@njit(**_JIT)
def _im2col(x, cols, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    # One row r = (channel ch, offset i, j) per task: each thread writes whole rows, front to
    # back, reading one shifted input plane per image.
    for r in prange(c * kh * kw):
        ch, i, j = r // (kh * kw), (r // kw) % kh, r % kw
        y0, x0 = i * dh - ph, j * dw - pw
        oy_lo, oy_hi = _valid_range(y0, sh, oh, h)
        ox_lo, ox_hi = _valid_range(x0, sw, ow, w)
        for b in range(n):
            out = (r * n + b) * oh * ow                  # image b's part of row r
            plane = (b * c + ch) * h * w
            for oy in range(oh):
                row = out + oy * ow
                if oy < oy_lo or oy >= oy_hi:
                    for ox in range(ow):
                        cols[_u(row + ox)] = 0
                    continue
                base = plane + (oy * sh + y0) * w + x0
                for ox in range(ox_lo):
                    cols[_u(row + ox)] = 0
                if sw == 1:     # a contiguous run, which LLVM copies with vector loads and stores
                    for ox in range(ox_lo, ox_hi):
                        cols[_u(row + ox)] = x[_u(base + ox)]
                else:
                    for ox in range(ox_lo, ox_hi):
                        cols[_u(row + ox)] = x[_u(base + ox * sw)]
                for ox in range(ox_hi, ow):
                    cols[_u(row + ox)] = 0


@njit(**_JIT)
def _col2im(cols, dx, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, chunk):
    # One task per (channel, block of `chunk` images): the block's dx planes stay in cache while
    # the task reads its stretch of each of the channel's kh*kw rows of cols front to back.
    blocks = (n + chunk - 1) // chunk
    for t in prange(c * blocks):
        ch, b0 = t // blocks, (t % blocks) * chunk
        b1 = min(n, b0 + chunk)
        for b in range(b0, b1):
            p = b * c + ch
            for q in range(p * h * w, (p + 1) * h * w):
                dx[_u(q)] = 0
        # Same (i, j) order of additions as the reference, so every sum rounds the same way.
        for i in range(kh):
            y0 = i * dh - ph
            oy_lo, oy_hi = _valid_range(y0, sh, oh, h)
            for j in range(kw):
                x0 = j * dw - pw
                ox_lo, ox_hi = _valid_range(x0, sw, ow, w)
                row = ((ch * kh + i) * kw + j) * n * oh * ow
                for b in range(b0, b1):
                    p = b * c + ch
                    col = row + b * oh * ow
                    for oy in range(oy_lo, oy_hi):
                        base = (p * h + oy * sh + y0) * w + x0
                        r = col + oy * ow
                        for ox in range(ox_lo, ox_hi):
                            dx[_u(base + ox * sw)] += cols[_u(r + ox)]


# A col2im task keeps this many bytes of dx planes in cache (half of a 512 kB L2 cache).
_COL2IM_SLAB = 256 << 10


def _col2im_chunk(n: int, c: int, plane_bytes: int) -> int:
    """Images per col2im task: as many as fit the slab, but enough tasks to keep the cores busy."""
    chunk = max(1, min(n, _COL2IM_SLAB // plane_bytes))
    while chunk > 1 and c * -(-n // chunk) < 4 * numba.get_num_threads():
        chunk = -(-chunk // 2)
    return chunk


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
                    v = x[_u(plane + r + j)]
                    if v > best or (v != v and best == best):
                        best = v
                        at = r + j
            q = _u((p * oh + oy) * ow + ox)
            out[q] = best
            argmax[q] = at


# The fast passes compare with ``>`` alone (the NaN test costs 5x in branch mispredictions) and
# note whether the plane holds a NaN; such a plane is redone by the exact loop above.

@njit(**_JIT)
def _max_pool2d_forward(x, out, argmax, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow):
    for p in prange(n * c):
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
                        v = x[_u(plane + r + j)]
                        nan |= v != v
                        if v > best:
                            best = v
                            at = r + j
                q = _u((p * oh + oy) * ow + ox)
                out[q] = best
                argmax[q] = at
        if nan:
            _max_pool_plane_exact(x, out, argmax, p, h, w, kh, kw, sh, sw, ph, pw, oh, ow)


@njit(**_JIT)
def _max_pool2x2_forward(x, out, argmax, n, c, h, w, sh, sw, oh, ow):
    """The common 2x2 unpadded window, unrolled (4x faster than the general loop)."""
    for p in prange(n * c):
        plane = p * h * w
        nan = False
        for oy in range(oh):
            for ox in range(ow):
                r = oy * sh * w + ox * sw
                best = x[_u(plane + r)]
                at = r
                nan |= best != best
                for k in (r + 1, r + w, r + w + 1):
                    v = x[_u(plane + k)]
                    nan |= v != v
                    if v > best:
                        best = v
                        at = k
                q = _u((p * oh + oy) * ow + ox)
                out[q] = best
                argmax[q] = at
        if nan:
            _max_pool_plane_exact(x, out, argmax, p, h, w, 2, 2, sh, sw, 0, 0, oh, ow)


@njit(**_JIT)
def _max_pool2d_backward(dout, argmax, dx, planes, hw, ohw, chunk):
    """Returns how many argmax entries fell outside the plane (and were skipped)."""
    n_chunks = (planes + chunk - 1) // chunk
    bad = np.zeros(n_chunks, dtype=np.int64)
    for t in prange(n_chunks):
        acc = np.empty(hw, dtype=np.float64)  # the reference's bincount sums in float64
        for p in range(t * chunk, min(planes, (t + 1) * chunk)):
            for q in range(hw):
                acc[_u(q)] = 0.0
            for q in range(p * ohw, (p + 1) * ohw):
                idx = argmax[_u(q)]
                if idx < 0 or idx >= hw:
                    bad[t] += 1
                else:
                    acc[_u(idx)] += dout[_u(q)]
            for q in range(hw):
                dx[_u(p * hw + q)] = acc[_u(q)]
    return bad.sum()


@register("im2col", "cpu")
def im2col(x, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1), out=None):
    """(N, C, H, W) -> columns (C*kh*kw, N*OH*OW); the layout of windows.im2col."""
    x = _float_array(x, "x", "im2col", (4,))
    n, c, h, w = x.shape
    kh, kw, (sh, sw), (ph, pw), (dh, dw), oh, ow = window_geometry(
        "im2col", (h, w), kh, kw, stride, padding, dilation)
    cols = out_array(out, (c * kh * kw, n * oh * ow), x.dtype, "im2col", np)
    _run(_im2col, cols.size, x.reshape(-1), cols.reshape(-1),
         n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
    return cols


@register("col2im", "cpu")
def col2im(cols, x_shape, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """Columns (C*kh*kw, N*OH*OW) -> image (N, C, H, W), summing where windows overlap."""
    cols = _float_array(cols, "cols", "col2im", (2,))
    n, c, h, w = image_shape(x_shape, "col2im")
    kh, kw, (sh, sw), (ph, pw), (dh, dw), oh, ow = window_geometry(
        "col2im", (h, w), kh, kw, stride, padding, dilation)
    if cols.shape != (c * kh * kw, n * oh * ow):
        raise ValueError(f"col2im: cols must have shape {(c * kh * kw, n * oh * ow)} for x_shape "
                         f"{tuple(x_shape)} and a {kh}x{kw} kernel, got {cols.shape}")
    dx = np.empty((n, c, h, w), dtype=cols.dtype)
    _run(_col2im, cols.size, cols.reshape(-1), dx.reshape(-1),
         n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, _col2im_chunk(n, c, h * w * dx.itemsize))
    return dx


@register("max_pool2d_forward", "cpu")
def max_pool2d_forward(x, kh, kw, stride, padding):
    """(N, C, H, W) -> (out (N, C, OH, OW), argmax (N, C, OH, OW) int64 flat index into H*W)."""
    x = _float_array(x, "x", "max_pool2d_forward", (4,))
    n, c, h, w = x.shape
    kh, kw, (sh, sw), (ph, pw), _, oh, ow = window_geometry(
        "max_pool2d_forward", (h, w), kh, kw, stride, padding, (1, 1))
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    argmax = np.empty((n, c, oh, ow), dtype=np.int64)
    flat = x.reshape(-1), out.reshape(-1), argmax.reshape(-1), n, c, h, w
    if (kh, kw, ph, pw) == (2, 2, 0, 0):
        _run(_max_pool2x2_forward, x.size, *flat, sh, sw, oh, ow)
    else:
        _run(_max_pool2d_forward, x.size, *flat, kh, kw, sh, sw, ph, pw, oh, ow)
    return out, argmax


@register("max_pool2d_backward", "cpu")
def max_pool2d_backward(dout, argmax, x_shape):
    """dout, argmax (N, C, OH, OW) -> dx (N, C, H, W) with dx[argmax] += dout."""
    dout = _float_array(dout, "dout", "max_pool2d_backward", (4,))
    n, c, h, w = image_shape(x_shape, "max_pool2d_backward")
    if not isinstance(argmax, np.ndarray) or argmax.dtype.kind not in "iu":
        raise TypeError("max_pool2d_backward: argmax must be an integer NumPy array, got "
                        f"{getattr(argmax, 'dtype', type(argmax).__name__)}")
    if argmax.shape != dout.shape or dout.shape[:2] != (n, c):
        raise ValueError(f"max_pool2d_backward: dout {dout.shape} and argmax {argmax.shape} must "
                         f"both be (N, C, OH, OW) with (N, C) = {(n, c)} from x_shape")
    argmax = np.ascontiguousarray(argmax, dtype=np.int64)
    dx = np.empty((n, c, h, w), dtype=dout.dtype)
    oh, ow = dout.shape[2:]
    bad = _run(_max_pool2d_backward, dx.size, dout.reshape(-1), argmax.reshape(-1),
               dx.reshape(-1), n * c, h * w, oh * ow, max(1, (n * c) // 64))
    if bad:
        raise ValueError(f"max_pool2d_backward: {bad} argmax entries fall outside the {h}x{w} "
                         "input plane")
    return dx


# ---------------------------------------------------------------------------------------------
# element-wise and per-channel ops of a training step
# ---------------------------------------------------------------------------------------------

@njit(**_JIT)
def _relu_forward(x, y):
    for q in prange(x.size):
        v = x[_u(q)]
        y[_u(q)] = 0 if v <= 0 else v  # +0 for -0 and NaN kept, like np.maximum(x, 0)


@njit(**_JIT)
def _relu_backward(dy, y, dx):
    for q in prange(dy.size):
        dx[_u(q)] = dy[_u(q)] * (y[_u(q)] > 0)  # as the reference: NaN * 0 stays NaN


@register("relu_forward", "cpu")
def relu_forward(x):
    """y = max(x, 0), any shape."""
    x = _float_array(x, "x", "relu_forward", None)
    y = np.empty_like(x)
    _run(_relu_forward, x.size, x.reshape(-1), y.reshape(-1))
    return y


@register("relu_backward", "cpu")
def relu_backward(dy, y):
    """dx = dy * (y > 0); dy and y of one shape."""
    dy = _float_array(dy, "dy", "relu_backward", None)
    y = _float_array(y, "y", "relu_backward", None)
    if dy.shape != y.shape:
        raise ValueError(f"relu_backward: dy {dy.shape} and y {y.shape} must have one shape")
    dx = np.empty_like(dy)
    _run(_relu_backward, dy.size, dy.reshape(-1), y.reshape(-1), dx.reshape(-1))
    return dx


# Per-channel sums run in float64 with fastmath's reassociation (and nothing else of fastmath):
# it lets LLVM keep one partial sum per SIMD lane instead of one chain of dependent additions,
# 2-2.5x faster. The order of the additions is then the compiled code's, fixed for a machine but
# not the order the source reads; the float64 totals are rounded to the input's dtype after.

@njit(cache=True, fastmath={"reassoc"})
def _shifted_moments(x, start, stop, shift):
    """(sum(d), sum(d * d)) with d = x - shift over flat [start, stop), in float64."""
    s = t = 0.0
    for q in range(start, stop):
        d = x[_u(q)] - shift
        s += d
        t += d * d
    return s, t


@njit(cache=True, fastmath={"reassoc"})
def _sum_and_dot(a, b, start, stop):
    """(sum(a), sum(a * b)) over flat [start, stop), in float64."""
    s = t = 0.0
    for q in range(start, stop):
        aq = np.float64(a[_u(q)])
        s += aq
        t += aq * b[_u(q)]
    return s, t


@njit(**_JIT)
def _batch_norm_forward_train(x, gamma, beta, eps, y, xhat, mean, var, inv_std, n, c, length):
    """x, y, xhat flat (N, C, L): statistics per channel over N and L, in two passes."""
    m = n * length
    for ch in prange(c):
        # Mean and variance from one pass over d = x - shift: shifting by one of the channel's
        # own values keeps E[d^2] - E[d]^2 from cancelling when the mean is far from zero.
        shift = np.float64(x[_u(ch * length)])
        s1 = s2 = 0.0
        for b in range(n):
            base = (b * c + ch) * length
            d1, d2 = _shifted_moments(x, base, base + length, shift)
            s1, s2 = s1 + d1, s2 + d2
        v = max(s2 / m - (s1 / m) ** 2, 0.0)
        mean[ch] = shift + s1 / m
        var[ch] = v
        inv_std[ch] = 1.0 / np.sqrt(v + eps)
        # Normalise with the statistics rounded to x's dtype, as the reference does.
        g, bt, mu, s = gamma[ch], beta[ch], mean[ch], inv_std[ch]
        for b in range(n):
            base = (b * c + ch) * length
            for q in range(base, base + length):
                xh = (x[_u(q)] - mu) * s
                xhat[_u(q)] = xh
                y[_u(q)] = g * xh + bt


@njit(**_JIT)
def _batch_norm_backward(dy, xhat, gamma, inv_std, dx, dgamma, dbeta, n, c, length):
    """dy, xhat, dx flat (N, C, L); sums per channel in float64."""
    m = n * length
    for ch in prange(c):
        s_dy = s_dy_xhat = 0.0
        for b in range(n):
            base = (b * c + ch) * length
            d1, d2 = _sum_and_dot(dy, xhat, base, base + length)
            s_dy, s_dy_xhat = s_dy + d1, s_dy_xhat + d2
        dbeta[ch] = s_dy
        dgamma[ch] = s_dy_xhat
        # dx = inv_std / M (M dxhat - sum(dxhat) - xhat sum(dxhat xhat)) with dxhat = dy gamma,
        # sum(dxhat) = gamma dbeta and sum(dxhat xhat) = gamma dgamma, as the reference has it.
        k = gamma[ch] * inv_std[ch] / m
        s_dy, s_dy_xhat = dbeta[ch], dgamma[ch]  # rounded to dy's dtype, as in the reference
        for b in range(n):
            base = (b * c + ch) * length
            for q in range(base, base + length):
                dx[_u(q)] = k * (m * dy[_u(q)] - s_dy - xhat[_u(q)] * s_dy_xhat)


def _channels(a, name: str, fn: str, c: int, dtype) -> np.ndarray:
    """A (C,) float array in the input's dtype."""
    a = _float_array(a, name, fn, (1,))
    if a.shape != (c,):
        raise ValueError(f"{fn}: {name} must have shape ({c},) for an input with {c} channels, "
                         f"got {a.shape}")
    return a.astype(dtype, copy=False)


@register("batch_norm_forward_train", "cpu")
def batch_norm_forward_train(x, gamma, beta, eps):
    """x (N, C, H, W) or (N, C) -> (y, mean (C,), var (C,) biased, xhat, inv_std (C,)).

    Statistics are taken per channel over the batch (and the spatial positions)."""
    fn = "batch_norm_forward_train"
    x = _float_array(x, "x", fn, (2, 4))
    if x.size == 0:
        raise ValueError(f"{fn}: x must hold values to normalise, got shape {x.shape}")
    c = x.shape[1]
    gamma = _channels(gamma, "gamma", fn, c, x.dtype)
    beta = _channels(beta, "beta", fn, c, x.dtype)
    y, xhat = np.empty_like(x), np.empty_like(x)
    mean, var, inv_std = (np.empty(c, dtype=x.dtype) for _ in range(3))
    n, length = x.shape[0], x.size // (x.shape[0] * c)
    _run(_batch_norm_forward_train, x.size, x.reshape(-1), gamma, beta, float(eps), y.reshape(-1),
         xhat.reshape(-1), mean, var, inv_std, n, c, length)
    return y, mean, var, xhat, inv_std


@register("batch_norm_backward", "cpu")
def batch_norm_backward(dy, xhat, gamma, inv_std):
    """dy, xhat (N, C, H, W) or (N, C) -> (dx like dy, dgamma (C,), dbeta (C,))."""
    fn = "batch_norm_backward"
    dy = _float_array(dy, "dy", fn, (2, 4))
    xhat = _float_array(xhat, "xhat", fn, (2, 4))
    if xhat.shape != dy.shape:
        raise ValueError(f"{fn}: xhat {xhat.shape} must have dy's shape {dy.shape}")
    if dy.size == 0:
        raise ValueError(f"{fn}: dy must hold values, got shape {dy.shape}")
    xhat = xhat.astype(dy.dtype, copy=False)
    c = dy.shape[1]
    gamma = _channels(gamma, "gamma", fn, c, dy.dtype)
    inv_std = _channels(inv_std, "inv_std", fn, c, dy.dtype)
    dx = np.empty_like(dy)
    dgamma, dbeta = np.empty(c, dtype=dy.dtype), np.empty(c, dtype=dy.dtype)
    n, length = dy.shape[0], dy.size // (dy.shape[0] * c)
    _run(_batch_norm_backward, dy.size, dy.reshape(-1), xhat.reshape(-1), gamma, inv_std,
         dx.reshape(-1), dgamma, dbeta, n, c, length)
    return dx, dgamma, dbeta
