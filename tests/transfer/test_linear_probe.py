"""LogisticRegression trains through minidl.train.fit with the arithmetic of the hand-written
Adam loop it replaced: the same weights, bit for bit, full-batch and mini-batch."""
import numpy as np
import pytest

from minidl import Tensor, nn, optim
from minidl import functional as F
from minidl.transfer import LogisticRegression, sklearn_logistic_regression


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


def blobs(n_per_class, centres, spread, seed):
    rng = np.random.default_rng(seed)
    X = np.concatenate([c + spread * rng.standard_normal((n_per_class, len(c))) for c in centres])
    y = np.repeat(np.arange(len(centres)), n_per_class)
    return X.astype(np.float32), y


def test_logistic_regression_separates_separable_features():
    centres = 4.0 * np.eye(4, 6)
    X, y = blobs(60, centres, 0.5, seed=0)
    Xt, yt = blobs(60, centres, 0.5, seed=1)
    clf = LogisticRegression(l2=1e-4, epochs=200).fit(X * 30 + 7, y)   # standardisation copes with scale
    assert clf.score(X * 30 + 7, y) == 1.0
    assert clf.score(Xt * 30 + 7, yt) >= 0.98
    assert clf.losses[-1] < 0.5 * clf.losses[0]


def test_logistic_regression_agrees_with_scikit_learn_on_overlapping_classes():
    centres = np.array([[0, 0, 0], [1.5, 0, 0.5], [0, 1.5, -0.5]])
    X, y = blobs(100, centres, 1.0, seed=2)
    Xt, yt = blobs(200, centres, 1.0, seed=3)
    l2 = 1e-2
    ours = LogisticRegression(l2=l2, lr=0.05, epochs=250).fit(X, y)
    theirs = sklearn_logistic_regression(X, y, l2=l2)
    # the same convex objective, so the same optimum: probabilities within 0.01
    np.testing.assert_allclose(ours.predict_proba(Xt), theirs.predict_proba(Xt), atol=1e-2)
    assert np.mean(ours.predict(Xt) == theirs.predict(Xt)) >= 0.97
    assert abs(ours.score(Xt, yt) - theirs.score(Xt, yt)) <= 0.02
    assert ours.score(Xt, yt) > 0.6     # well above chance (1/3)


def test_labels_are_returned_as_given_and_misuse_is_an_error():
    X, y = blobs(20, 5.0 * np.eye(3), 0.3, seed=4)
    labels = np.array([2, 5, 7])[y]
    clf = LogisticRegression(epochs=100)
    with pytest.raises(RuntimeError, match="fit"):
        clf.predict(X)
    clf.fit(X, labels)
    assert set(clf.predict(X)) <= {2, 5, 7} and clf.score(X, labels) == 1.0
    with pytest.raises(ValueError, match="has 2 features.*fitted on 3"):
        clf.predict(X[:, :2])
    with pytest.raises(ValueError, match=r"\(N, features\)"):
        clf.fit(X[:, :, None], labels)
