"""The one registry of architecture names (minidl.models.zoo): every name builds, with the class
count and input asked for, and an input the design does not take is refused."""
import numpy as np
import pytest

from minidl import Tensor, nn, no_grad
from minidl.models import zoo

SMALL = [n for n, a in zoo.ARCHITECTURES.items() if a.image_size is None or a.image_size <= 32]
LARGE = [n for n in zoo.ARCHITECTURES if n not in SMALL]


def last_linear(model) -> nn.Linear:
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


def test_the_lab_models_and_the_zoo_share_one_registry():
    assert {"lab6", "digits-cnn", "mlp", "resnet20", "resnet110", "resnet18", "vgg16_bn"} <= set(zoo.ARCHITECTURES)


@pytest.mark.parametrize("name", SMALL)
def test_every_small_image_architecture_builds_and_classifies_its_input(name):
    arch = zoo.ARCHITECTURES[name]
    channels, size = arch.in_channels or 2, arch.image_size or 12    # open inputs: any will do
    model = zoo.build_model(name, 7, channels, size).eval()
    with no_grad():
        out = model(Tensor(np.random.default_rng(0).standard_normal((2, channels, size, size))
                           .astype(np.float32)))
    assert out.shape == (2, 7)


@pytest.mark.parametrize("name", LARGE)
def test_every_imagenet_architecture_builds_with_the_class_count_asked_for(name, monkeypatch):
    for init in ("uniform_", "normal_", "kaiming_normal_", "constant_"):   # VGG's init takes 10 s
        if hasattr(nn.init, init):
            monkeypatch.setattr(nn.init, init, lambda p, *args, **kwargs: p)
    assert last_linear(zoo.build_model(name, 7)).out_features == 7
    assert zoo.ARCHITECTURES[name].num_classes == 1000


def test_left_out_arguments_take_the_architecture_defaults():
    assert last_linear(zoo.build_model("resnet20")).out_features == 10
    assert zoo.build_model("mlp")[1].in_features == 28 * 28                 # Fashion-MNIST's input
    assert zoo.build_model("lab6", in_channels=3).features[0].in_channels == 3


def test_an_input_the_design_does_not_take_is_refused():
    with pytest.raises(ValueError, match="resnet20 takes 3-channel images, got 1-channel"):
        zoo.build_model("resnet20", 10, 1, 32)
    with pytest.raises(ValueError, match="lab6 takes 28x28 images, got 32x32"):
        zoo.build_model("lab6", 10, 1, 32)
    with pytest.raises(KeyError, match="unknown architecture 'resnet21'.*resnet20"):
        zoo.build_model("resnet21")
