"""Exercise two_layer_backprop (lesson 1): backpropagation by hand for the lecture's two-layer net.

The network, for inputs X with one example per column (lecture 000, section 1.1):

    Z     = W1^T X              (hidden pre-activations)      (hidden, n)
    P     = tanh(Z)             (hidden activations)          (hidden, n)
    Y_hat = W2^T P              (prediction)                  (k, n)
    L     = 1/2 sum (Y_hat - Y)^2

Work the chain rule back from L to W2 and W1, one NumPy line per equation (tanh' = 1 - tanh^2,
and you already have P = tanh(Z)). Grade it with `python -m minidl exercise check two_layer_backprop`.
"""
import numpy as np


def two_layer_backprop(X, Y, W1, W2):
    """X (d, n), Y (k, n), W1 (d, hidden), W2 (hidden, k) -> (L, dL/dW1 (d, hidden), dL/dW2 (hidden, k)).

    L is a float; the gradients have the shapes of W1 and W2.
    """
    raise NotImplementedError
