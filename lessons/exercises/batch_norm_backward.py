"""Exercise batch_norm_backward (lessons 6 and 7): batch normalisation's backward pass (training).

With y = gamma xhat + beta, xhat = (x - mu) inv_std and m values per channel (sums over every
axis but the channel axis 1):

    dbeta  = sum dy
    dgamma = sum dy xhat
    dxhat  = dy gamma
    dx     = inv_std / m (m dxhat - sum dxhat - xhat sum(dxhat xhat))

(the three paths from x to L, through xhat directly, through mu and through var, collapse into
that one line; derive it once on paper).
`check` runs your function in place of minidl's inside F.batch_norm and the lab CNN.
Grade it with `python -m minidl exercise check batch_norm_backward`.
"""
import numpy as np


def batch_norm_backward(dy, xhat, gamma, inv_std):
    """dy, xhat (N, C) or (N, C, H, W), gamma (C,), inv_std (C,) -> (dx like dy, dgamma (C,),
    dbeta (C,)), all of dy's dtype."""
    raise NotImplementedError
