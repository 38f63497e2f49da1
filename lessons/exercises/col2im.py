"""Exercise col2im (lesson 13): the convolution's backward pass to its input.

Backward through y = W @ cols: dL/dcols = W^T G, and each entry of a column came from ONE pixel
of the padded input, so dL/dx sums each column entry back where im2col read it:

    dxpad[n, c, oh*sh + i*dh, ow*sw + j*dw] += dcols[(c*kh + i)*kw + j, n*OH*OW + oh*OW + ow]
    dx = dxpad without its padding                  OH = (H + 2 ph - dh (kh - 1) - 1) // sh + 1

Windows overlap when the stride is smaller than the kernel: ADD, never assign. col2im is the
adjoint of im2col: <im2col(x), cols> = <x, col2im(cols)> for every x and cols.
`check` runs your function in place of minidl's col2im inside F.conv2d's backward and the lab CNN.
Grade it with `python -m minidl exercise check col2im`.
"""
import numpy as np


def col2im(cols, x_shape, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """cols (C*kh*kw, N*OH*OW), x_shape (N, C, H, W), kernel size, (sh, sw), (ph, pw), (dh, dw) ->
    dx (N, C, H, W) of cols' dtype."""
    raise NotImplementedError
