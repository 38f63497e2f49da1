"""The convolution's forward pass a block of images at a time: the fast path of
``minidl.functional.conv.conv2d_forward`` on both devices (``cpu.conv2d_forward`` and
``cuda.conv2d_forward`` call this with their own im2col and block size).

The reference builds the columns of the whole batch and multiplies once. When the columns need
not be kept (no dL/dW wanted: inference, frozen weights), this builds them one block of images
at a time into one reused buffer: a block of ``block_bytes`` is still in the cache when the
product reads it back, and memory stays bounded by the block, not the batch. A block of one image
writes its products straight into the output. When dL/dW is wanted the whole batch is one block,
as in the reference.
"""
from __future__ import annotations

from ..geometry import output_size


def matmul_groups(a, b):
    """a[k] @ b[k] for each group k. With one group, a 2-D product: BLAS and cuBLAS then read a
    transposed view in place, where a batched product may first copy it."""
    return (a[0] @ b[0])[None] if a.shape[0] == 1 else a @ b


def blocked_conv2d_forward(xp, im2col, block_bytes, x, w, b, stride, padding, dilation, groups,
                           keep_cols=True):
    """x (N, C, H, W), w (F, C/groups, kh, kw), b (F,) or None -> (y (N, F, OH, OW), cols), cols
    (groups, C/groups*kh*kw, N*OH*OW) when ``keep_cols``, else None."""
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    oh = output_size(h, kh, stride[0], padding[0], dilation[0])
    ow = output_size(wd, kw, stride[1], padding[1], dilation[1])
    w = w.reshape(groups, f // groups, cg * kh * kw)
    rows, positions = c * kh * kw, oh * ow
    y = xp.empty((n, groups, f // groups, positions), dtype=x.dtype)
    step = n if keep_cols else max(1, block_bytes // (rows * positions * x.itemsize))
    block = None if keep_cols else xp.empty(rows * min(step, n) * positions, dtype=x.dtype)
    for i in range(0, n, step):
        m = min(step, n - i)
        out = None if keep_cols else block[:rows * m * positions].reshape(rows, m * positions)
        cols = im2col(x[i:i + m], kh, kw, stride, padding, dilation, out=out)
        cols = cols.reshape(groups, cg * kh * kw, m * positions)
        if m == 1:                          # one image: its products land in y[i] directly
            for k in range(groups):             # 2-D products: BLAS writes into out in place
                xp.matmul(w[k], cols[k], out=y[i, k])
        else:                               # (g, F/g, m*OH*OW) -> (m, g, F/g, OH*OW)
            y[i:i + m] = matmul_groups(w, cols).reshape(groups, f // groups, m, positions).transpose(2, 0, 1, 3)
    y = y.reshape(n, f, oh, ow)
    if b is not None:
        y += b.reshape(1, f, 1, 1)
    return y, (cols if keep_cols else None)
