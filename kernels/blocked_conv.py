"""The convolution a block of images at a time: the fast path of ``conv2d_forward`` and
``conv2d_backward`` (``minidl.functional.conv``) on both devices; ``cpu.conv2d_*`` and
``cuda.conv2d_*`` call these with their own im2col, col2im and block size.

The references build the columns of the whole batch and multiply once, in the forward pass and
again in the backward pass. These build them ``block_bytes`` at a time into one reused buffer: a
block is still in the cache when the product reads it back, and memory stays bounded by the block,
not the batch. A block of one image writes its forward products straight into the output.
"""
from __future__ import annotations

from ..geometry import output_size


def matmul_groups(a, b):
    """a[k] @ b[k] for each group k. With one group, a 2-D product: BLAS and cuBLAS then read a
    transposed view in place, where a batched product may first copy it."""
    return (a[0] @ b[0])[None] if a.shape[0] == 1 else a @ b


def _layout(x, w, stride, padding, dilation, groups, block_bytes):
    """(rows C*kh*kw, positions OH*OW, (oh, ow), images per block)."""
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    oh = output_size(h, kh, stride[0], padding[0], dilation[0])
    ow = output_size(wd, kw, stride[1], padding[1], dilation[1])
    rows, positions = c * kh * kw, oh * ow
    return rows, positions, (oh, ow), max(1, min(n, block_bytes // (rows * positions * x.itemsize)))


def blocked_conv2d_forward(xp, im2col, block_bytes, x, w, b, stride, padding, dilation, groups,
                           out=None):
    """x (N, C, H, W), w (F, C/groups, kh, kw), b (F,) or None -> y (N, F, OH, OW), written into
    ``out`` (a C-contiguous array of that shape) when given."""
    n = x.shape[0]
    f, cg, kh, kw = w.shape
    rows, positions, (oh, ow), step = _layout(x, w, stride, padding, dilation, groups, block_bytes)
    w = w.reshape(groups, f // groups, cg * kh * kw)
    shape = (n, groups, f // groups, positions)
    y = xp.empty(shape, dtype=x.dtype) if out is None else out.reshape(shape)
    block = xp.empty(rows * step * positions, dtype=x.dtype)
    for i in range(0, n, step):
        m = min(step, n - i)
        cols = im2col(x[i:i + m], kh, kw, stride, padding, dilation,
                      out=block[:rows * m * positions].reshape(rows, m * positions))
        cols = cols.reshape(groups, cg * kh * kw, m * positions)
        if m == 1:                          # one image: its products land in y[i] directly
            for k in range(groups):             # 2-D products: BLAS writes into out in place
                xp.matmul(w[k], cols[k], out=y[i, k])
        else:                               # (g, F/g, m*OH*OW) -> (m, g, F/g, OH*OW)
            y[i:i + m] = matmul_groups(w, cols).reshape(groups, f // groups, m, positions).transpose(2, 0, 1, 3)
    y = y.reshape(n, f, oh, ow)
    if b is not None:
        y += b.reshape(1, f, 1, 1)
    return y


def blocked_conv2d_backward(xp, im2col, col2im, block_bytes, g, x, w, stride, padding, dilation,
                            groups, need_dx=True, need_dw=True, dx_out=None):
    """dL/dy (N, F, OH, OW) -> (dL/dx (N, C, H, W) or None, dL/dW like w or None), block by block:
    dW sums G_b cols_b^T over the blocks, dx[block] = col2im(W^T G_b); dL/dx is written into
    ``dx_out`` (an array like x) when given."""
    n = x.shape[0]
    f, cg, kh, kw = w.shape
    rows, positions, _, step = _layout(x, w, stride, padding, dilation, groups, block_bytes)
    geometry = (kh, kw, stride, padding, dilation)
    w_t = xp.ascontiguousarray(w.reshape(groups, f // groups, cg * kh * kw).swapaxes(-1, -2))
    dx = (xp.empty(x.shape, dtype=g.dtype) if dx_out is None else dx_out) if need_dx else None
    dw = xp.zeros((groups, f // groups, cg * kh * kw), dtype=g.dtype) if need_dw else None
    block = xp.empty(rows * step * positions, dtype=x.dtype) if need_dw else None
    for i in range(0, n, step):
        m = min(step, n - i)
        # G_b in the columns' layout (g, F/g, m*OH*OW)
        g_b = g[i:i + m].reshape(m, groups, f // groups, positions).transpose(1, 2, 0, 3)
        g_b = xp.ascontiguousarray(g_b).reshape(groups, f // groups, m * positions)
        if need_dw:
            cols = im2col(x[i:i + m], *geometry, out=block[:rows * m * positions].reshape(rows, m * positions))
            dw += matmul_groups(g_b, cols.reshape(groups, cg * kh * kw, m * positions).swapaxes(-1, -2))
        if need_dx:
            dx[i:i + m] = col2im(matmul_groups(w_t, g_b).reshape(rows, m * positions), (m, *x.shape[1:]), *geometry)
    return dx, (dw.reshape(w.shape) if need_dw else None)
