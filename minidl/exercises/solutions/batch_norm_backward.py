"""Reference solution of lessons/exercises/batch_norm_backward.py."""


def batch_norm_backward(dy, xhat, gamma, inv_std):
    axes = (0,) + tuple(range(2, dy.ndim))
    channel = (1, -1) + (1,) * (dy.ndim - 2)
    m = dy.size // dy.shape[1]
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    dx = (gamma * inv_std / m).reshape(channel) * (m * dy - dbeta.reshape(channel) - xhat * dgamma.reshape(channel))
    return dx, dgamma, dbeta
