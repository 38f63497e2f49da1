"""Exercise batch_norm_forward (lessons 6 and 7): batch normalisation's forward pass, two modes.

Per channel c, over the m = N (input (N, C)) or m = N*H*W (input (N, C, H, W)) values of a batch:

    mu      = 1/m sum x                       (training: the batch's statistics)
    var     = 1/m sum (x - mu)^2              (biased: 1/m, not 1/(m-1))
    inv_std = 1 / sqrt(var + eps)
    xhat    = (x - mu) inv_std
    y       = gamma xhat + beta               (gamma, beta (C,) broadcast over the channel axis 1)

In evaluation the running mean and var (given) replace the batch's, so an image's output does
not depend on the rest of its batch. Keep x's dtype throughout.
`check` runs your functions in place of minidl's inside F.batch_norm and the lab CNN.
Grade it with `python -m minidl exercise check batch_norm_forward`.
"""
import numpy as np


def batch_norm_forward_train(x, gamma, beta, eps):
    """x (N, C) or (N, C, H, W), gamma (C,), beta (C,) -> (y like x, mu (C,), var (C,),
    xhat like x, inv_std (C,))."""
    raise NotImplementedError


def batch_norm_forward_eval(x, gamma, beta, mean, var, eps, keep_xhat=True):
    """x (N, C) or (N, C, H, W), gamma, beta, mean, var (C,) -> (y like x, xhat like x, inv_std (C,));
    xhat may be None when keep_xhat is False (then no backward pass needs it)."""
    raise NotImplementedError
