"""Exercise adam_step (lesson 6): one step of Adam (Kingma and Ba, 2015), bias correction included.

On step t = 1, 2, ... with gradient dL/dW (m and v start as zeros):

    g     = dL/dW + weight_decay * W
    m     = beta1 m + (1 - beta1) g                (running mean of g)
    v     = beta2 v + (1 - beta2) g^2              (running mean of g squared)
    m_hat = m / (1 - beta1^t)                      (m and v start at 0, so early averages
    v_hat = v / (1 - beta2^t)                       are too small: correct them)
    W     = W - lr m_hat / (sqrt(v_hat) + eps)

Grade it with `python -m minidl exercise check adam_step`.
"""
import numpy as np


def adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """param, grad, m, v (the same shape), t the step number (1 on the first step) ->
    (new param, new m, new v)."""
    raise NotImplementedError
