"""Exercise conv2d_forward (lessons 5 and 13): the convolution's forward pass by im2col.

With cols = im2col(x) of shape (C*kh*kw, N*OH*OW) (one column per window),

    y = W.reshape(F, C*kh*kw) @ cols + b           (F, N*OH*OW) -> (N, F, OH, OW)

With groups g the C input channels and F filters split into g groups; group k's F/g filters see
only its C/g channels: cols reshaped to (g, C/g*kh*kw, N*OH*OW) and W to (g, F/g, C/g*kh*kw),
one product per group.
You may use minidl's im2col (imported below) or paste your own from the im2col exercise.
`check` runs your function in place of minidl's conv2d_forward inside F.conv2d and the lab CNN.
Grade it with `python -m minidl exercise check conv2d_forward`.
"""
import numpy as np

from minidl.functional.conv import im2col   # im2col(x, kh, kw, stride, padding, dilation)


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """x (N, C, H, W), w (F, C/groups, kh, kw), b (F,) or None, and (sh, sw), (ph, pw), (dh, dw)
    pairs -> y (N, F, OH, OW) of x's dtype, OH = (H + 2 ph - dh (kh - 1) - 1) // sh + 1."""
    raise NotImplementedError
