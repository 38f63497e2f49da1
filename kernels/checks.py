"""Argument checks that the Numba and CUDA kernels share, so both reject bad input in the same
words (the window geometry itself is checked by ``minidl.geometry``)."""
from __future__ import annotations

from ..geometry import image_shape, window_geometry


def col2im_geometry(cols, x_shape, kh, kw, stride, padding, dilation):
    """((N, C, H, W), (kh, kw, stride, padding, dilation, OH, OW)), with cols checked to be
    (C*kh*kw, N*OH*OW)."""
    n, c, h, w = image_shape(x_shape, "col2im")
    geometry = window_geometry("col2im", (h, w), kh, kw, stride, padding, dilation)
    kh, kw, *_, oh, ow = geometry
    if cols.shape != (c * kh * kw, n * oh * ow):
        raise ValueError(f"col2im: cols must have shape {(c * kh * kw, n * oh * ow)} for x_shape "
                         f"{tuple(x_shape)} and a {kh}x{kw} kernel, got {cols.shape}")
    return (n, c, h, w), geometry


def pool_backward_argmax(dout, argmax, x_shape, xp):
    """((N, C, H, W), argmax as C-contiguous int64), with argmax checked to be an integer ``xp``
    array of dout's shape (N, C, OH, OW)."""
    n, c, h, w = image_shape(x_shape, "max_pool2d_backward")
    if not isinstance(argmax, xp.ndarray) or argmax.dtype.kind not in "iu":
        library = "NumPy" if xp.__name__ == "numpy" else "CuPy"
        raise TypeError(f"max_pool2d_backward: argmax must be an integer {library} array, got "
                        f"{getattr(argmax, 'dtype', type(argmax).__name__)}")
    if argmax.shape != dout.shape or dout.shape[:2] != (n, c):
        raise ValueError(f"max_pool2d_backward: dout {dout.shape} and argmax {argmax.shape} must "
                         f"both be (N, C, OH, OW) with (N, C) = {(n, c)} from x_shape")
    return (n, c, h, w), xp.ascontiguousarray(argmax, dtype=xp.int64)
