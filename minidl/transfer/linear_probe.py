"""A linear probe: multinomial logistic regression on fixed features (e.g. from extract_features).

    clf = LogisticRegression(l2=1e-3).fit(train_feats, train_labels)   # (N, D), (N,)
    clf.score(test_feats, test_labels)

``LogisticRegression`` is trained with minidl itself (a Linear layer, cross-entropy, Adam,
minidl.train.fit);
``sklearn_logistic_regression`` fits scikit-learn's on the same features as a reference.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import nn, optim
from ..data import DataLoader
from ..tensor import Tensor, no_grad
from ..train import fit

__all__ = ["LogisticRegression", "sklearn_logistic_regression"]


class LogisticRegression:
    """Multinomial logistic regression trained in minidl: standardised features -> Linear ->
    softmax, minimising the mean cross-entropy + (l2 / 2) ||W||^2 with Adam.

    It reaches the same optimum as scikit-learn's LogisticRegression(C) on standardised
    features with C = 1 / (l2 * N) (sklearn sums the losses instead of averaging).

    fit(X (N, D), y (N,)) -> self; predict(X) -> (N,) int64; predict_proba(X) -> (N, K);
    score(X, y) -> accuracy. After fit: mean_, scale_ (D,), the Linear ``linear``, ``losses``.
    """

    def __init__(self, l2: float = 1e-3, lr: float = 0.05, epochs: int = 300,
                 batch_size: int | None = None, seed: int = 0, progress: bool = False):
        if l2 < 0:
            raise ValueError(f"LogisticRegression: l2 must be >= 0, got {l2!r}")
        self.l2, self.lr, self.epochs, self.batch_size = l2, lr, int(epochs), batch_size
        self.seed, self.progress = seed, progress
        self.linear = None
        self.losses: list[float] = []

    def _check(self, X, where: str) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"LogisticRegression.{where}: X must be (N, features), got shape {X.shape}")
        if self.linear is not None and X.shape[1] != self.linear.in_features:
            raise ValueError(f"LogisticRegression.{where}: X has {X.shape[1]} features, the model "
                             f"was fitted on {self.linear.in_features}")
        return X

    def _standardise(self, X) -> Tensor:
        return Tensor(((X - self.mean_) / self.scale_).astype(np.float32))

    def fit(self, X, y) -> "LogisticRegression":
        X = self._check(X, "fit")
        y = np.asarray(y)
        if y.shape != (len(X),) or not np.issubdtype(y.dtype, np.integer) or len(y) == 0:
            raise ValueError(f"LogisticRegression.fit: y must be (N,) = ({len(X)},) integer "
                             f"labels, got shape {y.shape} dtype {y.dtype}")
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        self.classes_ = np.unique(y)
        index = np.searchsorted(self.classes_, y)
        rng = np.random.default_rng(self.seed)
        self.linear = nn.Linear(X.shape[1], len(self.classes_))
        bound = 1 / np.sqrt(X.shape[1])
        self.linear.weight.data[...] = rng.uniform(-bound, bound, self.linear.weight.shape)
        self.linear.bias.data[...] = 0
        opt = optim.Adam(self.linear.parameters(), lr=self.lr)
        Xs, target = self._standardise(X).data, index.astype(np.int64)
        batch = len(X) if self.batch_size is None else int(self.batch_size)
        # full batch: the same batch every epoch; else shuffled by the generator that drew W
        data = ([(Xs, target)] if batch >= len(X)
                else DataLoader(Xs, target, batch, shuffle=True, seed=rng))
        w = self.linear.weight

        def loss(logits, y):
            return F.cross_entropy(logits, y) + (0.5 * self.l2) * (w * w).sum()

        history = fit(self.linear, opt, data, epochs=self.epochs, loss=loss,
                      progress=self.progress)
        if history.stop_reason is not None:
            raise ValueError(f"LogisticRegression.fit: {history.stop_reason}")
        self.losses = history.iteration_loss[len(data) - 1::len(data)]   # each epoch's last
        return self

    def _logits(self, X) -> np.ndarray:
        if self.linear is None:
            raise RuntimeError("LogisticRegression: call fit() first")
        with no_grad():
            return self.linear(self._standardise(self._check(X, "predict"))).numpy()

    def predict_proba(self, X) -> np.ndarray:
        z = self._logits(X)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        logits = self._logits(X)
        return self.classes_[logits.argmax(axis=1)].astype(np.int64)

    def score(self, X, y) -> float:
        return float((self.predict(X) == np.asarray(y)).mean())


def sklearn_logistic_regression(X, y, l2: float = 1e-3, max_iter: int = 2000):
    """scikit-learn's LogisticRegression on standardised X, regularised like
    LogisticRegression(l2) above (C = 1 / (l2 N)). Returns the fitted Pipeline (with
    predict / score)."""
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if l2 > 0:
        clf = SkLogisticRegression(C=1.0 / (l2 * len(X)), max_iter=max_iter)
    else:
        clf = SkLogisticRegression(penalty=None, max_iter=max_iter)
    model = make_pipeline(StandardScaler(), clf)
    return model.fit(np.asarray(X), np.asarray(y))
