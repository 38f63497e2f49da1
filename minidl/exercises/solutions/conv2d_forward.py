"""Reference solution of lessons/exercises/conv2d_forward.py."""
import numpy as np

from minidl.functional.conv import im2col


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    n, _, h, wd = x.shape
    f, cg, kh, kw = w.shape
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    cols = im2col(x, kh, kw, stride, padding, dilation).reshape(groups, cg * kh * kw, -1)
    y = np.stack([w.reshape(groups, f // groups, -1)[k] @ cols[k] for k in range(groups)])
    y = y.reshape(f, n, -1).transpose(1, 0, 2).reshape(n, f, oh, -1)
    if b is not None:
        y = y + b.reshape(1, f, 1, 1)
    return np.ascontiguousarray(y)
