"""1x1 convolutions (``groups == 1``, no padding) as plain matrix products, on both devices.

A 1x1 window sees one position: image n's columns are its own pixels, x[n] viewed as
(C, H*W), so the product needs no im2col copy. With stride s the window visits every s-th pixel:
those are gathered first (a copy s*s times smaller than the input).

    forward:   y[n]  = W @ x[n]            (F, C) @ (C, OH*OW)
    backward:  dx[n] = W^T @ G[n]          (C, F) @ (F, OH*OW), scattered back to every s-th pixel
               dW    = sum_n G[n] @ x[n]^T (F, OH*OW) @ (OH*OW, C)
"""
from __future__ import annotations


def is_pointwise(w, padding, groups) -> bool:
    """A 1x1 kernel over one group with no padding (any stride, dilation irrelevant)."""
    return groups == 1 and w.shape[2:] == (1, 1) and tuple(padding) == (0, 0)


def _sampled(xp, x, stride):
    """x (N, C, H, W) -> its pixels under the windows, (N, C, OH*OW), contiguous."""
    if tuple(stride) != (1, 1):
        x = xp.ascontiguousarray(x[:, :, ::stride[0], ::stride[1]])
    n, c, oh, ow = x.shape
    return x.reshape(n, c, oh * ow), (oh, ow)


def pointwise_conv2d_forward(xp, x, w, b, stride):
    """x (N, C, H, W), w (F, C, 1, 1), b (F,) or None -> y (N, F, OH, OW)."""
    cols, (oh, ow) = _sampled(xp, x, stride)
    y = xp.matmul(w.reshape(w.shape[0], -1), cols)            # one product per image
    if b is not None:
        y += b.reshape(1, -1, 1)
    return y.reshape(x.shape[0], w.shape[0], oh, ow)


def pointwise_conv2d_backward(xp, g, x, w, stride, need_dx=True, need_dw=True):
    """dL/dy (N, F, OH, OW) -> (dL/dx (N, C, H, W) or None, dL/dW (F, C, 1, 1) or None)."""
    n, f = g.shape[:2]
    g3 = g.reshape(n, f, -1)
    w2 = w.reshape(f, -1)
    dw = None
    if need_dw:
        cols, _ = _sampled(xp, x, stride)
        dw = xp.zeros(w2.shape, dtype=g.dtype)
        for i in range(n):                                    # sum over images of G[n] x[n]^T
            dw += g3[i] @ cols[i].T
        dw = dw.reshape(w.shape)
    dx = None
    if need_dx:
        d_cols = xp.matmul(w2.T, g3)                          # (N, C, OH*OW)
        if tuple(stride) == (1, 1):
            dx = d_cols.reshape(x.shape)
        else:                                                 # only every s-th pixel was seen
            dx = xp.zeros(x.shape, dtype=g.dtype)
            dx[:, :, ::stride[0], ::stride[1]] = d_cols.reshape(n, -1, *g.shape[2:])
    return dx, dw
