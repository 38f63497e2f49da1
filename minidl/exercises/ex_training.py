"""Exercises of lessons 1, 6 and 7: the two-layer net's backprop by hand, softmax + cross-entropy's
backward pass, inverted dropout. None is a dispatched op: the student's function is compared with
minidl's own (autograd, CrossEntropy.backward, Dropout's rules) and gradchecked inside a Function."""
from __future__ import annotations

import numpy as np

from .. import Function, Tensor
from .. import functional as F
from ..functional.loss import CrossEntropy, softmax_cross_entropy
from .compare import assert_close
from .core import Check, CheckFailed, Exercise
from .engine import engine_gradcheck
from .lab import sine_data
from .search import for_all, st

# ----- the two-layer net by hand (lesson 1) ------------------------------------------------------
NET_HINT = ("Z = W1^T X, P = tanh(Z), Y_hat = W2^T P, L = 1/2 sum (Y_hat - Y)^2; backward: "
            "dY_hat = Y_hat - Y, dW2 = P dY_hat^T, dP = W2 dY_hat, dZ = dP (1 - P^2), dW1 = X dZ^T")
NET_CASES = st.fixed_dictionaries({"X": st.tuples(st.integers(1, 4), st.integers(1, 8)),
                                   "hidden": st.integers(1, 6), "outputs": st.integers(1, 2),
                                   "seed": st.integers(0, 2**16)})


def net_inputs(case):
    rng = np.random.default_rng(case["seed"])
    (d, n), h, k = case["X"], case["hidden"], case["outputs"]
    return (rng.standard_normal((d, n)), rng.standard_normal((k, n)), 0.8 * rng.standard_normal((d, h)),
            0.5 * rng.standard_normal((h, k)))


def net_loss(X, Y, w1, w2):
    return F.mse_loss(w2.T @ F.tanh(w1.T @ Tensor(X)), Tensor(Y), reduction="half_sum")


def student_net(student, X, Y, W1, W2):
    got = student.call("two_layer_backprop", X, Y, W1, W2)
    if not isinstance(got, tuple) or len(got) != 3:
        raise CheckFailed(f"two_layer_backprop returned {type(got).__name__}, expected (L, dW1, dW2)")
    return got


def net_values(student, examples):
    def test(case):
        X, Y, W1, W2 = net_inputs(case)
        w1, w2 = Tensor(W1, requires_grad=True), Tensor(W2, requires_grad=True)
        loss = net_loss(X, Y, w1, w2)
        loss.backward()
        L, dW1, dW2 = student_net(student, X, Y, W1.copy(), W2.copy())
        assert_close("L", np.asarray(L, dtype=float), np.asarray(loss.item()), hint=NET_HINT)
        assert_close("dW2", dW2, w2.grad, hint=NET_HINT)
        assert_close("dW1", dW1, w1.grad, hint=NET_HINT)
    for_all(NET_CASES, test, examples)


def net_gradcheck(student, examples):
    def test(case):
        X, Y, W1, W2 = net_inputs(case)

        class Net(Function):
            def forward(self, w1, w2):
                self.w1, self.w2 = w1, w2
                return np.asarray(net_loss(X, Y, Tensor(w1), Tensor(w2)).item())

            def backward(self, g):
                _, dW1, dW2 = student_net(student, X, Y, self.w1.copy(), self.w2.copy())
                return g * np.asarray(dW1), g * np.asarray(dW2)

        engine_gradcheck([], lambda a, b: Net.apply(a, b), [Tensor(W1, requires_grad=True),
                         Tensor(W2, requires_grad=True)], ["W1", "W2"], NET_HINT)
    for_all(NET_CASES, test, examples)


def net_lesson(student, examples):
    X, Y, W1, W2 = sine_data()
    alpha, losses = 0.2 / X.shape[1], []
    for _ in range(1500):
        L, dW1, dW2 = student_net(student, X, Y, W1, W2)
        losses.append(float(L))
        W1, W2 = W1 - alpha * np.asarray(dW1), W2 - alpha * np.asarray(dW2)
    if not losses[-1] < losses[0] / 10:
        raise CheckFailed(f"lesson 1's fit of sin(x) (100 points, 16 tanh units, alpha = 0.2/n, 1500 steps of "
                          f"W = W - alpha dL/dW with your gradients): L went {losses[0]:.4g} -> {losses[-1]:.4g}, "
                          f"not down tenfold", NET_HINT)


TWO_LAYER = Exercise("two_layer_backprop", "backprop by hand for the lecture's two-layer net", "01",
                     ("two_layer_backprop",), (
    Check("values", 4, "L, dW1, dW2 equal minidl's autograd of the same net", net_values),
    Check("gradcheck", 4, "your dW1, dW2 agree with float64 central differences of L", net_gradcheck),
    Check("lesson", 2, "lesson 1's sine fit with your gradients cuts the loss tenfold", net_lesson),
))

# ----- softmax + cross-entropy backward (lesson 6) ---------------------------------------------
CE_HINT = ("L = mean over the N rows of -log softmax(z)[y], so dL/dz = (softmax(z) - onehot(y)) / N; "
           "compute softmax from z - max(z) per row, or large logits overflow")
CE_CASES = st.fixed_dictionaries({"logits": st.tuples(st.integers(1, 6), st.integers(2, 6)),
                                  "scale": st.sampled_from([1.0, 30.0, 1000.0]), "seed": st.integers(0, 2**16)})


def ce_inputs(case):
    rng = np.random.default_rng(case["seed"])
    n, k = case["logits"]
    return rng.standard_normal((n, k)) * case["scale"], rng.integers(0, k, n)


def ce_values(student, examples):
    def test(case):
        logits, target = ce_inputs(case)
        fn = CrossEntropy()
        fn.forward(logits, target)
        assert_close("dlogits", student.call("softmax_cross_entropy_backward", logits, target),
                     fn.backward(np.asarray(1.0))[0], hint=CE_HINT)
    for_all(CE_CASES, test, examples)


def ce_gradcheck(student, examples):
    def test(case):
        logits, target = ce_inputs(dict(case, scale=1.0))

        class Loss(Function):
            def forward(self, z):
                self.z = z
                return np.asarray(softmax_cross_entropy(z, target)[0])

            def backward(self, g):
                return (g * np.asarray(student.call("softmax_cross_entropy_backward", self.z, target)),)

        engine_gradcheck([], lambda z: Loss.apply(z), [Tensor(logits, requires_grad=True)], ["logits"], CE_HINT)
    for_all(CE_CASES, test, examples)


SOFTMAX_CE = Exercise("softmax_cross_entropy_backward", "softmax + cross-entropy's backward pass", "06",
                      ("softmax_cross_entropy_backward",), (
    Check("values", 5, "dL/dlogits equals minidl's CrossEntropy.backward, logits up to 1000", ce_values),
    Check("gradcheck", 5, "your dL/dlogits agrees with central differences of the mean loss", ce_gradcheck),
))

# ----- inverted dropout (lesson 7) -------------------------------------------------------------
DROP_HINT = ("keep = rng.random(x.shape) >= p; mask = keep / (1 - p) in x's dtype; y = x mask; "
             "dx = dy mask: the survivors are scaled up so that E[y] = x")
DROP_CASES = st.fixed_dictionaries({"x": st.tuples(st.integers(1, 4), st.integers(1, 5)),
                                    "p": st.sampled_from([0.0, 0.2, 0.5, 0.9]), "seed": st.integers(0, 2**16)})


def student_dropout(student, x, p, seed):
    got = student.call("dropout_forward", x, p, np.random.default_rng(seed))
    if not isinstance(got, tuple) or len(got) != 2:
        raise CheckFailed(f"dropout_forward returned {type(got).__name__}, expected (y, mask)")
    return got


def drop_forward(student, examples):
    def test(case):
        x = np.random.default_rng(case["seed"]).standard_normal(case["x"]) + 3.0     # no zeros in x
        p = case["p"]
        y, mask = student_dropout(student, x, p, case["seed"])
        assert_close("y", y, x * np.asarray(mask), dtype=x.dtype, hint=DROP_HINT)
        scale = np.asarray(mask)
        bad = ~(np.isclose(scale, 0, atol=0) | np.isclose(scale, 1 / (1 - p), rtol=1e-12))
        if bad.any():
            k = tuple(int(i) for i in np.argwhere(bad)[0])
            raise CheckFailed(f"mask{list(k)} is {float(scale[k]):.6g}: every mask value must be 0 (dropped) or "
                              f"1/(1-p) = {1 / (1 - p):.6g} (kept)", DROP_HINT)
        again, _ = student_dropout(student, x, p, case["seed"])
        assert_close("y (the same seed again)", again, y, hint="draw the mask from the rng you are given, "
                     "not from np.random: the same generator state must give the same mask")
    for_all(DROP_CASES, test, examples)
    x = np.full((400, 500), 2.0, dtype=np.float32)
    for p in (0.2, 0.5, 0.8):
        y, _ = student_dropout(student, x, p, 7)
        kept = float((np.asarray(y) != 0).mean())
        sigma = np.sqrt(p * (1 - p) / x.size)
        if abs(kept - (1 - p)) > 6 * sigma:
            raise CheckFailed(f"p={p}: you kept {kept:.4f} of 200000 values, expected {1 - p} "
                              f"(give or take {6 * sigma:.4f})", DROP_HINT)
        assert_close(f"mean of y (p={p})", np.asarray(float(np.asarray(y, dtype=np.float64).mean())),
                     np.asarray(2.0), atol=0.05, rtol=0, hint="inverted dropout keeps E[y] = x: scale by 1/(1-p)")
        if np.asarray(y).dtype != np.float32:
            raise CheckFailed(f"float32 x gave y of dtype {np.asarray(y).dtype}", DROP_HINT)


def drop_backward(student, examples):
    def test(case):
        x = np.random.default_rng(case["seed"]).standard_normal(case["x"]) + 3.0
        seed, p = case["seed"], case["p"]
        _, mask = student_dropout(student, x, p, seed)
        dy = np.random.default_rng(seed + 1).standard_normal(x.shape)
        assert_close("dx", student.call("dropout_backward", dy, mask), dy * np.asarray(mask), hint=DROP_HINT)

        class Dropout(Function):
            def forward(self, x):
                y, self.mask = student_dropout(student, x, p, seed)
                return y

            def backward(self, g):
                return (student.call("dropout_backward", g, self.mask),)

        engine_gradcheck([], lambda t: Dropout.apply(t), [Tensor(x, requires_grad=True)], ["x"], DROP_HINT)
    for_all(DROP_CASES, test, examples)


DROPOUT = Exercise("dropout", "inverted dropout, forward and backward", "07", ("dropout_forward", "dropout_backward"), (
    Check("forward", 5, "y = x mask with mask in {0, 1/(1-p)} drawn from the given rng; keep rate and mean", drop_forward),
    Check("backward", 5, "dx = dy mask, and float64 gradcheck through your pair", drop_backward),
))

EXERCISES = (TWO_LAYER, SOFTMAX_CE, DROPOUT)
