"""Reference solution of lessons/exercises/conv2d_backward.py."""
import numpy as np

from minidl.functional.conv import col2im, im2col


def conv2d_backward(g, x, w, stride, padding, dilation, groups, need_dx=True, need_dw=True):
    n, f, oh, ow = g.shape
    _, cg, kh, kw = w.shape
    G = g.reshape(n, f, oh * ow).transpose(1, 0, 2).reshape(groups, f // groups, n * oh * ow)
    W = w.reshape(groups, f // groups, cg * kh * kw)
    dx = dw = None
    if need_dx:
        dcols = np.concatenate([W[k].T @ G[k] for k in range(groups)])
        dx = col2im(dcols, x.shape, kh, kw, stride, padding, dilation)
    if need_dw:
        cols = im2col(x, kh, kw, stride, padding, dilation).reshape(groups, cg * kh * kw, -1)
        dw = np.concatenate([G[k] @ cols[k].T for k in range(groups)]).reshape(f, cg, kh, kw)
    return dx, dw
