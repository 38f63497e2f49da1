"""Exercise max_pool2d_forward (lesson 5): max-pooling, and where each maximum was.

Each kh x kw window (stride sh, sw; padding ph, pw that counts as -inf, so it never wins) is
summarised by its maximum:

    OH = (H + 2 ph - kh) // sh + 1          out[n, c, oh, ow] = max of the window at (oh, ow)

The backward pass needs to know which input won: argmax[n, c, oh, ow] = row * W + col, the flat
index into the UNPADDED H x W plane (row = oh*sh - ph + i for the winning offset (i, j)). On a
tie the first maximum in row-major window order wins (np.argmax does that).
`check` runs your function in place of minidl's inside F.max_pool2d and the lab CNN.
Grade it with `python -m minidl exercise check max_pool2d_forward`.
"""
import numpy as np


def max_pool2d_forward(x, kh, kw, stride, padding):
    """x (N, C, H, W), kernel kh, kw, (sh, sw), (ph, pw) pairs ->
    (out (N, C, OH, OW) of x's dtype, argmax (N, C, OH, OW) int64)."""
    raise NotImplementedError
