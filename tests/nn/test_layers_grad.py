"""Every layer's gradients (inputs and parameters) against float64 central differences.

Tolerance: atol 1e-6, rtol 1e-4.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import Tensor, gradcheck, nn

TOL = dict(atol=1e-6, rtol=1e-4)


def check_layer(layer, x):
    layer.double()
    params = list(layer.parameters())

    def run(x, *ps):
        return layer(x)

    gradcheck(run, [x, *params], **TOL)


layers = {
    "linear": (lambda: nn.Linear(4, 3), (2, 4)),
    "conv": (lambda: nn.Conv2d(2, 4, 3, stride=2, padding=1, dilation=1, groups=2), (2, 2, 5, 5)),
    "conv_dilated": (lambda: nn.Conv2d(2, 2, 2, dilation=2, bias=False), (1, 2, 5, 4)),
    "bn1d": (lambda: nn.BatchNorm1d(3), (5, 3)),
    "bn2d": (lambda: nn.BatchNorm2d(2), (3, 2, 2, 3)),
    "avgpool": (lambda: nn.AvgPool2d(2, 1), (1, 2, 4, 4)),
    "adaptive": (lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 3, 3)),
    "leaky": (lambda: nn.LeakyReLU(0.2), (3, 4)),
    "sigmoid": (lambda: nn.Sigmoid(), (3, 4)),
    "tanh": (lambda: nn.Tanh(), (3, 4)),
    "relu": (lambda: nn.ReLU(), (3, 4)),
    "flatten": (lambda: nn.Flatten(), (2, 2, 3)),
    "identity": (lambda: nn.Identity(), (2, 3)),
    "softmax": (lambda: nn.Softmax(), (2, 3)),
}


@settings(max_examples=10)
@given(name=st.sampled_from(sorted(layers)), seed=st.integers(0, 2**16))
def test_layer_gradients(name, seed):
    make, shape = layers[name]
    minidl.manual_seed(seed)
    layer = make().train()
    x = Tensor(np.random.default_rng(seed).normal(size=shape), requires_grad=True)
    x.data[np.abs(x.data) < 1e-3] = 0.5
    check_layer(layer, x)


def test_maxpool_layer_gradient_without_ties():
    x = Tensor(np.random.default_rng(0).permutation(np.arange(32.0)).reshape(1, 2, 4, 4), requires_grad=True)
    check_layer(nn.MaxPool2d(2), x)


def test_dropout_layer_in_train_and_eval():
    layer = nn.Dropout(0.5)
    x = Tensor(np.ones((20, 20)))
    minidl.manual_seed(0)
    y = layer(x).data
    assert set(np.unique(y)) == {0.0, 2.0}
    assert layer.eval()(x) is x


def test_sequential_of_everything_backpropagates_to_each_parameter():
    minidl.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.Tanh(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Dropout(0.0), nn.Linear(8, 4), nn.BatchNorm1d(4), nn.Sigmoid(),
                        nn.Linear(4, 2))
    x = Tensor(np.random.default_rng(1).normal(size=(3, 1, 4, 4)), requires_grad=True)
    net.double()
    gradcheck(lambda x, *ps: net(x), [x, *net.parameters()], **TOL)


def test_init_functions_have_the_documented_variance():
    minidl.manual_seed(0)
    w = nn.Parameter(np.zeros((400, 300), np.float32))
    nn.init.kaiming_normal_(w)
    assert w.data.std() == pytest.approx(np.sqrt(2 / 300), rel=0.02)
    nn.init.xavier_uniform_(w)
    assert w.data.std() == pytest.approx(np.sqrt(2 / 700), rel=0.02)
    assert np.abs(w.data).max() <= np.sqrt(6 / 700)
    nn.init.xavier_normal_(w)
    assert w.data.std() == pytest.approx(np.sqrt(2 / 700), rel=0.02)
    nn.init.kaiming_uniform_(w)
    assert np.abs(w.data).max() <= np.sqrt(6 / 300) and w.data.std() == pytest.approx(np.sqrt(2 / 300), rel=0.02)
    nn.init.constant_(w, 0.25)
    assert np.all(w.data == 0.25)


def test_hand_designed_filters():
    conv = nn.Conv2d(1, 1, 3, bias=False)
    sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]])
    nn.init.set_filters_(conv.weight, sobel)
    img = np.zeros((1, 1, 5, 5), np.float32)
    img[..., :2] = 1.0                                  # a vertical edge
    out = conv(Tensor(img)).data[0, 0]
    assert np.all(out[:, 0] == 4) and np.all(out[:, 2] == 0)
    with pytest.raises(ValueError, match="expected filters of shape"):
        nn.init.set_filters_(conv.weight, np.ones((2, 2)))
