"""Exercise im2col (lessons 5 and 13): every window of a batch as one column.

im2col turns a convolution into ONE matrix product: it copies every kh x kw window of the
zero-padded input into a column, so that y = W.reshape(F, C*kh*kw) @ cols.

    OH = (H + 2 ph - dh (kh - 1) - 1) // sh + 1          (and OW likewise)
    cols[(c*kh + i)*kw + j, n*OH*OW + oh*OW + ow] = xpad[n, c, oh*sh + i*dh, ow*sw + j*dw]

where xpad is x with ph rows of zeros above and below and pw columns left and right. Loop over
the kernel offsets (i, j) and copy a strided slice of xpad each time, not over pixels.
`check` runs your function in place of minidl's im2col inside F.conv2d and the lab CNN.
Grade it with `python -m minidl exercise check im2col`.
"""
import numpy as np


def im2col(x, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """x (N, C, H, W), kernel size kh, kw, and (sh, sw), (ph, pw), (dh, dw) pairs ->
    cols (C*kh*kw, N*OH*OW) of x's dtype."""
    raise NotImplementedError
