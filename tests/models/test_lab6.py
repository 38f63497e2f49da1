"""The Lab 6 CNN (lecture 003), its 8x8 digits sibling and the MLP baseline: shapes from the
lab's output-size formula, parameter counts from the layer formulas, readable layer names."""
import numpy as np
import pytest

import minidl
from minidl import Tensor, nn
from minidl.models.lab6 import digits_cnn, lab6_cnn
from minidl.models.mlp import mlp


def conv_out(w, f, p, s):
    """The lab's formula W_out = (W - F + 2P) / S + 1 (pooling: P = 0)."""
    return (w - f + 2 * p) // s + 1


def conv_params(c_in, c_out, k):
    return c_out * c_in * k * k + c_out          # weights + one bias per filter


def bn_params(c):
    return 2 * c                                 # gamma and beta (running stats are buffers)


def linear_params(n_in, n_out):
    return n_in * n_out + n_out


def feature_shapes(model, x):
    """Output shape after each layer of model.features, then of the whole model."""
    shapes = []
    with minidl.no_grad():
        h = x
        for layer in model.features:
            h = layer(h)
            shapes.append(h.shape)
        shapes.append(model(x).shape)
    return shapes


def test_lab6_shapes_follow_the_lab_arithmetic():
    model = lab6_cnn().eval()
    w1 = conv_out(28, 5, 2, 1)
    p1 = conv_out(w1, 2, 0, 2)
    w2 = conv_out(p1, 5, 2, 1)
    p2 = conv_out(w2, 2, 0, 2)
    assert (w1, p1, w2, p2) == (28, 14, 14, 7)      # the lab's printed sizes
    shapes = feature_shapes(model, Tensor(np.zeros((3, 1, 28, 28), np.float32)))
    assert shapes == [(3, 16, w1, w1)] * 3 + [(3, 16, p1, p1)] + [(3, 32, w2, w2)] * 3 + \
        [(3, 32, p2, p2), (3, 10)]


def test_lab6_layers_are_the_labs():
    model = lab6_cnn()
    kinds = [type(m) for m in model.features]
    assert kinds == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d] * 2
    for conv, out in ((model.features[0], 16), (model.features[4], 32)):
        assert (conv.out_channels, conv.kernel_size, conv.stride, conv.padding) == \
            (out, (5, 5), (1, 1), (2, 2))
    for pool in (model.features[3], model.features[7]):
        assert pool.kernel_size == 2 and (pool.stride or pool.kernel_size) == 2
    assert (model.classifier.in_features, model.classifier.out_features) == (7 * 7 * 32, 10)


@pytest.mark.parametrize("num_classes,in_channels", [(10, 1), (5, 3)])
def test_lab6_parameter_count_from_the_formula(num_classes, in_channels):
    model = lab6_cnn(num_classes, in_channels)
    expected = (conv_params(in_channels, 16, 5) + bn_params(16) + conv_params(16, 32, 5)
                + bn_params(32) + linear_params(7 * 7 * 32, num_classes))
    assert model.num_parameters() == expected
    assert f"total parameters: {expected:,}" in model.summary((1, in_channels, 28, 28))
    out = model.eval()(Tensor(np.zeros((2, in_channels, 28, 28), np.float32)))
    assert out.shape == (2, num_classes)


def test_lab6_errors_name_the_layer():
    model = lab6_cnn()
    with pytest.raises(minidl.ShapeError, match=r"features\.0 \(Conv2d\).*\(2, 3, 28, 28\)"):
        model(Tensor(np.zeros((2, 3, 28, 28), np.float32)))
    with pytest.raises(minidl.ShapeError, match=r"classifier \(Linear\).*1568.*\(2, 1152\)"):
        model(Tensor(np.zeros((2, 1, 24, 24), np.float32)))     # 24 -> 12 -> 6: 6*6*32 = 1152


def test_lab6_state_dict_names_are_readable():
    names = list(lab6_cnn().state_dict())
    assert names[:2] == ["features.0.weight", "features.0.bias"]
    assert "features.1.running_mean" in names and "classifier.weight" in names


def test_digits_cnn_shapes_and_parameters():
    model = digits_cnn().eval()
    shapes = feature_shapes(model, Tensor(np.zeros((2, 1, 8, 8), np.float32)))
    assert [s[1:] for s in shapes] == [(16, 8, 8)] * 3 + [(16, 4, 4)] + [(32, 4, 4)] * 3 + \
        [(32, 2, 2), (10,)]
    assert model.num_parameters() == (conv_params(1, 16, 3) + bn_params(16) + conv_params(16, 32, 3)
                                      + bn_params(32) + linear_params(2 * 2 * 32, 10))


def test_mlp_layers_and_parameter_count():
    model = mlp(784, (256, 64), 10, dropout=0.2)
    assert model.num_parameters() == (linear_params(784, 256) + linear_params(256, 64)
                                      + linear_params(64, 10))
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Flatten", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    out = model(Tensor(np.zeros((4, 1, 28, 28), np.float32)))
    assert out.shape == (4, 10)
    assert mlp(2, (), 3).num_parameters() == linear_params(2, 3)     # logistic regression
