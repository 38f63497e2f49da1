"""Exercise freezing (lessons 10-12): no gradient, and nothing saved, for frozen weights.

Freezing a weight sets requires_grad = False. minidl tells every op which of its inputs need a
gradient (self.needs_input_grad, one bool per input), and a well-written op then does no work for
the others: it returns None for them in backward, and its forward saves only what the wanted
gradients need. For the linear layer y = x W^T + b, with g = dL/dy:

    dL/dx = g W            (needs W)
    dL/dW = g^T x          (needs x: save x only when W needs a gradient)
    dL/db = sum of g over the rows

so a frozen layer in a fine-tuned network costs its forward pass and nothing else.
Grade it with `python -m minidl exercise check freezing`.
"""
import numpy as np

from minidl import Function


class Linear(Function):
    """x (N, in), W (out, in), b (out,) -> y (N, out). Arrays, not Tensors, reach forward and backward."""

    def forward(self, x, w, b):
        """Compute y and save on self what backward will need (self.needs_input_grad[i] says
        whether input i (x, W, b) wants a gradient)."""
        raise NotImplementedError

    def backward(self, g):
        """g = dL/dy (N, out) -> (dL/dx or None, dL/dW or None, dL/db or None)."""
        raise NotImplementedError
