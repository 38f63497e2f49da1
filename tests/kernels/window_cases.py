"""Hypothesis strategies shared by the kernel tests: sliding-window geometries and inputs."""
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st


@dataclass(frozen=True)
class Case:
    """One (N, C, H, W) input and a kh x kw window with its stride, padding and dilation."""
    shape: tuple
    kh: int
    kw: int
    stride: tuple
    padding: tuple
    dilation: tuple
    dtype: type
    seed: int

    @property
    def args(self):
        """(kh, kw, stride, padding, dilation), the trailing arguments of im2col and col2im."""
        return self.kh, self.kw, self.stride, self.padding, self.dilation

    @property
    def pool_args(self):
        """(kh, kw, stride, padding), the trailing arguments of max_pool2d_forward."""
        return self.kh, self.kw, self.stride, self.padding

    def normal(self, shape=None):
        """Standard normal values of the case's dtype."""
        rng = np.random.default_rng(self.seed)
        return rng.standard_normal(self.shape if shape is None else shape).astype(self.dtype)

    def ties(self):
        """Integers in [-2, 2]: every window is likely to hold a repeated maximum."""
        rng = np.random.default_rng(self.seed)
        return rng.integers(-2, 3, self.shape).astype(self.dtype)


@st.composite
def cases(draw, pool=False, max_batch=3, max_channels=3):
    """Geometries whose output is at least 1x1; a pool keeps dilation 1 and padding <= k // 2."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if pool:
        dilation = (1, 1)
        padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    else:
        dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    # the smallest side the dilated, padded window fits in, then up to 7 more
    h0 = max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0])
    w0 = max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1])
    shape = (draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels)),
             draw(st.integers(h0, h0 + 7)), draw(st.integers(w0, w0 + 7)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return Case(shape, kh, kw, stride, padding, dilation, dtype, draw(st.integers(0, 2**32 - 1)))


@st.composite
def pointwise_inputs(draw):
    """1x1 filters over one group with no padding (MobileNet's expansions and projections,
    ResNet-50's shortcuts with stride 2): the product path without im2col."""
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    h, wd = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c, h, wd)).astype(dtype)
    w = rng.standard_normal((f, c, 1, 1)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if draw(st.booleans()) else None
    return x, w, b, stride, (0, 0), dilation, 1
