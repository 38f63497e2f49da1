"""Known answers from the lecture notes in ../shared/seeds/.

- 002: the "loopy pattern" convolution demo (7x5 input of +-1, a 3x3 filter of 1/9 with -1/9 at
  its centre, ReLU, 2x2 max-pooling with stride 1, since the printed maps go 5x3 -> 4x2).
  The slides print two decimals, truncating -5/9 to -0.55, so values agree within 0.01.
  A few printed cells of the feature maps do not follow from the printed input and filter
  (transcription slips in the notes); they are listed below with the value the arithmetic gives.
- 003: the lab's Fashion-MNIST network and its output-size arithmetic 28 -> 28 -> 14 -> 14 -> 7.
- 000: the two-layer network with loss 1/2 sum (y_hat - y)^2 and update W <- W - alpha dL/dW.
"""
import numpy as np
import pytest

import minidl
from minidl import Tensor, nn, optim
from minidl import functional as F
from minidl.data import lecture
from minidl.geometry import output_size

# printed cell -> what the input and filter give (x 9): transcription slips in the notes
MISPRINTS = {
    1: dict(feature={(3, 0): -5, (3, 2): -5, (4, 1): -5}, relu={}, pooled={}),   # -5/9 printed -0.22/-0.33
    # the printed 0.33 at (1, 2) is -1/9 by the arithmetic, and it carries into ReLU and pooling
    2: dict(feature={(1, 2): -1, (2, 2): -1}, relu={(1, 2): 0}, pooled={(0, 1): 0, (1, 1): 0}),
}
DEMOS = {
    d: dict(image=lecture.DEMO_INPUTS[d - 1], feature=lecture.PRINTED_FEATURE_MAPS[d - 1],
            relu=lecture.PRINTED_RELU[d - 1], pooled=lecture.PRINTED_POOLED[d - 1],
            **{f"misprinted_{k}": v for k, v in MISPRINTS[d].items()})
    for d in (1, 2)
}
LOOPY_FILTER = lecture.LOOPY_FILTER


def check_against_lecture(computed, printed, misprinted, scale):
    for cell in np.ndindex(*computed.shape):
        if cell in misprinted:
            assert computed[cell] == pytest.approx(misprinted[cell] / scale, abs=1e-12), cell
            assert abs(computed[cell] - printed[cell]) > 0.1, f"{cell} is not a misprint after all"
        else:
            assert abs(computed[cell] - printed[cell]) < 0.01, (cell, computed[cell], printed[cell])


@pytest.mark.parametrize("demo", sorted(DEMOS))
def test_loopy_pattern_demo(demo):
    d = DEMOS[demo]
    x = Tensor(np.array(d["image"], float)[None, None])
    w = Tensor(LOOPY_FILTER[None, None])
    feature = F.conv2d(x, w)
    relu = F.relu(feature)
    pooled = F.max_pool2d(relu, 2, stride=1)
    assert feature.shape == (1, 1, 5, 3) and pooled.shape == (1, 1, 4, 2)
    check_against_lecture(feature.data[0, 0], np.array(d["feature"]), d["misprinted_feature"], 9)
    check_against_lecture(relu.data[0, 0], np.array(d["relu"]), d["misprinted_relu"], 9)
    check_against_lecture(pooled.data[0, 0], np.array(d["pooled"]), d["misprinted_pooled"], 9)


def test_the_loopy_pattern_fires_on_the_loop_of_the_nine():
    """The filter's strongest response (exactly 1) sits where the loop of the '9' is centred."""
    d = DEMOS[1]
    feature = F.conv2d(Tensor(np.array(d["image"], float)[None, None]), Tensor(LOOPY_FILTER[None, None]))
    assert np.unravel_index(feature.data.argmax(), (5, 3)) == (0, 1)
    assert feature.data.max() == pytest.approx(1.0)


def lab_network():
    """The lab's CNN as 003 describes it, built from layers."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, stride=1, padding=2), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(16, 32, 5, stride=1, padding=2), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(7 * 7 * 32, 10))


def test_lab_output_size_arithmetic():
    # W_out = (W - F + 2P) / S + 1 for conv, (W - F) / S + 1 for pooling
    w2 = output_size(28, 5, 1, 2)
    w3 = output_size(w2, 2, 2, 0)
    w4 = output_size(w3, 5, 1, 2)
    w5 = output_size(w4, 2, 2, 0)
    assert (w2, w3, w4, w5) == (28, 14, 14, 7)
    text = lab_network().summary((1, 1, 28, 28))
    for layer, shape in [("0", (1, 16, 28, 28)), ("3", (1, 16, 14, 14)), ("4", (1, 32, 14, 14)),
                         ("7", (1, 32, 7, 7)), ("9", (1, 10))]:
        line = next(line for line in text.splitlines() if line.startswith(layer + " "))
        assert str(shape) in line


def test_lab_network_forward_and_backward_on_random_data():
    minidl.manual_seed(0)
    net = lab_network()
    rng = np.random.default_rng(0)
    x = Tensor(rng.random((16, 1, 28, 28), dtype=np.float32))
    y = rng.integers(0, 10, 16)
    logits = net(x)
    assert logits.shape == (16, 10) and logits.dtype == np.float32
    loss = F.cross_entropy(logits, y)
    assert loss.item() == pytest.approx(np.log(10), rel=0.3)     # near-uniform at the start
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape and np.isfinite(p.grad).all(), name
    # one SGD step on the same batch lowers the loss
    opt = optim.SGD(net.parameters(), lr=0.01)
    opt.step()
    assert F.cross_entropy(net(x), y).item() < loss.item()


def test_two_layer_network_with_the_lectures_equations():
    """Z = W1^T X, P = phi(Z), Y_hat = W2^T P, L = 1/2 sum (y_hat - y)^2, W <- W - alpha dL/dW."""
    rng = np.random.default_rng(0)
    n, d, h = 64, 3, 8
    X = rng.uniform(-1, 1, (d, n))                   # columns are samples, as in the notes
    Y = np.sin(X.sum(axis=0, keepdims=True))         # a smooth target
    W1 = Tensor(rng.normal(0, 0.5, (d, h)), requires_grad=True)
    W2 = Tensor(rng.normal(0, 0.5, (h, 1)), requires_grad=True)
    alpha = 0.01

    def forward():
        Z = W1.transpose() @ Tensor(X)
        P = F.tanh(Z)
        return Z, P, W2.transpose() @ P

    losses = []
    for step in range(300):
        Z, P, Y_hat = forward()
        loss = F.mse_loss(Y_hat, Y, reduction="half_sum")
        W1.grad = W2.grad = None
        loss.backward()
        if step == 0:   # autograd reproduces the lecture's chain rule, written out by hand
            err = Y_hat.data - Y                                   # dL/dY_hat
            np.testing.assert_allclose(W2.grad, P.data @ err.T, rtol=1e-12)
            dZ = (W2.data @ err) * (1 - np.tanh(Z.data) ** 2)       # back through W2 and phi
            np.testing.assert_allclose(W1.grad, X @ dZ.T, rtol=1e-12)
        W1.data -= alpha * W1.grad                                # the update rule
        W2.data -= alpha * W2.grad
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
    assert all(b <= a + 1e-12 for a, b in zip(losses, losses[1:]))  # small alpha: monotone descent
