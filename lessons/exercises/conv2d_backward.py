"""Exercise conv2d_backward (lesson 13): the convolution's backward pass, to its input and weight.

The forward pass was y = W.reshape(F, C*kh*kw) @ cols + b with cols = im2col(x). With G = dL/dy
laid out like the product's output, (F, N*OH*OW) (transpose (N, F, OH*OW) to (F, N, OH*OW)):

    dL/dW = G @ cols^T                 (F, C*kh*kw) -> (F, C, kh, kw)   as for a linear layer
    dL/dx = col2im(W^T @ G)            scatter each column back to its window (summing)

(dL/db = the sum of G is done by the caller.) The columns are built again from x here: keeping
them from the forward pass would hold kh*kw copies of every input until its backward. With groups g,
one product per group, as in the forward pass. Compute only what is asked (need_dx, need_dw).
You may use minidl's im2col and col2im (imported below) or your own.
`check` runs your function in place of minidl's conv2d_backward inside F.conv2d and the lab CNN.
Grade it with `python -m minidl exercise check conv2d_backward`.
"""
import numpy as np

from minidl.functional.conv import col2im, im2col   # col2im(cols, x_shape, kh, kw, stride, padding, dilation)


def conv2d_backward(g, x, w, stride, padding, dilation, groups, need_dx=True, need_dw=True):
    """g = dL/dy (N, F, OH, OW), x (N, C, H, W), w (F, C/groups, kh, kw), (sh, sw), (ph, pw),
    (dh, dw) pairs -> (dL/dx (N, C, H, W) or None, dL/dW (F, C/groups, kh, kw) or None)."""
    raise NotImplementedError
