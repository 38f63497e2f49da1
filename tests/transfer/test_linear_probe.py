"""LogisticRegression trains through minidl.train.fit with the arithmetic of the hand-written
Adam loop it replaced: the same weights, bit for bit, full-batch and mini-batch."""
import numpy as np
import pytest

from minidl import Tensor, nn, optim
from minidl import functional as F
from minidl.transfer import LogisticRegression


def hand_written_fit(X, y, l2, lr, epochs, batch_size, seed):
    """The loop LogisticRegression.fit ran before it used minidl.train.fit."""
    mean, std = X.mean(axis=0), X.std(axis=0)
    Xs = Tensor(((X - mean) / np.where(std > 1e-12, std, 1.0)).astype(np.float32))
    target = Tensor(np.searchsorted(np.unique(y), y).astype(np.int64))
    rng = np.random.default_rng(seed)
    linear = nn.Linear(X.shape[1], len(np.unique(y)))
    bound = 1 / np.sqrt(X.shape[1])
    linear.weight.data[...] = rng.uniform(-bound, bound, linear.weight.shape)
    linear.bias.data[...] = 0
    opt = optim.Adam(linear.parameters(), lr=lr)
    batch = len(X) if batch_size is None else batch_size
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(X)) if batch < len(X) else np.arange(len(X))
        for start in range(0, len(X), batch):
            idx = order[start:start + batch]
            xb, yb = (Xs, target) if batch >= len(X) else (Tensor(Xs.data[idx]), Tensor(target.data[idx]))
            opt.zero_grad()
            w = linear.weight
            loss = F.cross_entropy(linear(xb), yb) + (0.5 * l2) * (w * w).sum()
            loss.backward()
            opt.step()
        losses.append(float(loss.item()))
    return linear, losses


@pytest.mark.parametrize("batch_size, epochs, seed", [(None, 60, 0), (32, 12, 3), (50, 10, 1)])
def test_fit_gives_the_weights_of_the_hand_written_loop(batch_size, epochs, seed):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(150, 6)) * 2 + 1
    y = (X[:, 0] + X[:, 1] > 2).astype(np.int64) + (X[:, 2] > 1)
    clf = LogisticRegression(l2=1e-3, lr=0.05, epochs=epochs, batch_size=batch_size, seed=seed).fit(X, y)
    linear, losses = hand_written_fit(X, y, 1e-3, 0.05, epochs, batch_size, seed)
    np.testing.assert_array_equal(clf.linear.weight.numpy(), linear.weight.numpy())
    np.testing.assert_array_equal(clf.linear.bias.numpy(), linear.bias.numpy())
    assert clf.losses == losses and len(losses) == epochs


def test_a_diverging_fit_is_an_error_not_a_nan_model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(ValueError, match="LogisticRegression.fit: .*diverged"):
            LogisticRegression(lr=1e30, epochs=20).fit(X, (X[:, 0] > 0).astype(np.int64))
