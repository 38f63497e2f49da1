"""The CPU convolution run with NUMBA_DISABLE_JIT=1, in a fresh process (the flag is read at
import): how a student steps into a kernel as plain Python."""
import os
import subprocess
import sys

CODE = """
import numpy as np
from minidl.functional.conv import conv2d_backward, conv2d_forward
from minidl.kernels import cpu as nb
rng = np.random.default_rng(0)
x, w = rng.standard_normal({x_shape}), rng.standard_normal({w_shape})
args = ((1, 1), {padding}, (1, 1), 1)
y = nb.conv2d_forward(x, w, None, *args)
g = rng.standard_normal(y.shape)
got = (y, *nb.conv2d_backward(g, x, w, *args))
want = (conv2d_forward.reference(x, w, None, *args), *conv2d_backward.reference(g, x, w, *args))
print(max(float(np.abs(a - b).max()) for a, b in zip(got, want)))
"""


def largest_error_with_the_jit_off(x_shape, w_shape, padding) -> float:
    """max |fast - reference| over y, dL/dx and dL/dW (float64) of a stride-1 layer, the Numba
    kernels run as Python."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    code = CODE.format(x_shape=tuple(x_shape), w_shape=tuple(w_shape), padding=tuple(padding))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return float(out.stdout)
