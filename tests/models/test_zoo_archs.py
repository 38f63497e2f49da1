"""The lectures' architectures: published parameter counts, torchvision's parameter names (so
ImageNet checkpoints convert), forward/backward at small inputs, and the Inception module's
cost with and without 1x1 reductions.

Parameter counts are the published figures (torchvision's documentation and the papers). The
lecture notes quote rounded ones, which these agree with:
  * AlexNet: notes 004 "60m" (its transcript says "16 million", a slip for sixty), notes 002
    "around 60 million". torchvision's one-GPU AlexNet has 61,100,840; the two-tower original
    of 2012 (96-256-384-384-256 filters, grouped convs) has 60,965,224.
  * VGG: notes 004 "138m" = VGG-16's 138,357,544 (VGG-19 has 143,667,240).
  * ResNet-50: notes 004 "25m" = 25,557,032.
  * Inception v1 "5m" and v3 "23m": whole GoogLeNets are not built here, only the module.
Building VGG's 138M random weights takes over ten seconds on a small machine, so tests that
only count or look at shapes replace the random initialisers with a no-op (the counts and
names do not depend on the values).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import Tensor, nn, no_grad
from minidl.models import zoo
from minidl.models.inception import InceptionModule, conv2d_multiply_adds
from minidl.models.resnet import BasicBlock, Bottleneck, resnet18

PUBLISHED = {
    "alexnet": 61_100_840,
    "vgg16": 138_357_544, "vgg16_bn": 138_365_992,
    "vgg19": 143_667_240, "vgg19_bn": 143_678_248,
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
}


def _build_uninitialised(monkeypatch, arch, fill=None):
    """Build ``arch`` with the random initialisers skipped (``fill``: a constant to write)."""
    def skip(p, *args, **kwargs):
        if fill is not None:
            p.data[...] = fill
        return p
    with monkeypatch.context() as m:
        m.setattr(nn.init, "uniform_", skip)
        m.setattr(nn.init, "normal_", skip)
        return zoo.build_model(arch)


def _shapes(model) -> dict[str, tuple]:
    return {**{k: tuple(p.shape) for k, p in model.named_parameters()},
            **{k: tuple(b.shape) for k, b in model.named_buffers()}}


@pytest.mark.parametrize("arch", sorted(PUBLISHED))
def test_parameter_count_is_the_published_one(arch, monkeypatch):
    model = _build_uninitialised(monkeypatch, arch)
    assert model.num_parameters() == PUBLISHED[arch]
    assert model.num_parameters(trainable_only=True) == PUBLISHED[arch]


# torchvision's names and shapes, from its model definitions (nn.Sequential indices count every
# layer, ReLUs and pools included)
TORCHVISION_ENTRIES = {
    "alexnet": {"features.0.weight": (64, 3, 11, 11), "features.3.weight": (192, 64, 5, 5),
                "features.6.weight": (384, 192, 3, 3), "features.8.weight": (256, 384, 3, 3),
                "features.10.bias": (256,), "classifier.1.weight": (4096, 9216),
                "classifier.4.weight": (4096, 4096), "classifier.6.bias": (1000,)},
    "vgg16": {"features.0.weight": (64, 3, 3, 3), "features.28.weight": (512, 512, 3, 3),
              "classifier.0.weight": (4096, 25088), "classifier.3.weight": (4096, 4096),
              "classifier.6.weight": (1000, 4096)},
    "vgg16_bn": {"features.1.running_var": (64,), "features.40.weight": (512, 512, 3, 3),
                 "features.41.running_mean": (512,), "classifier.6.bias": (1000,)},
    "vgg19": {"features.34.weight": (512, 512, 3, 3), "classifier.0.weight": (4096, 25088)},
    "vgg19_bn": {"features.49.weight": (512, 512, 3, 3), "features.50.bias": (512,)},
    "resnet18": {"conv1.weight": (64, 3, 7, 7), "layer1.1.bn2.running_mean": (64,),
                 "layer2.0.downsample.0.weight": (128, 64, 1, 1),
                 "layer4.0.downsample.1.running_var": (512,), "fc.weight": (1000, 512)},
    "resnet34": {"layer3.5.conv2.weight": (256, 256, 3, 3), "fc.bias": (1000,)},
    "resnet50": {"layer1.0.conv1.weight": (64, 64, 1, 1), "layer1.0.conv3.weight": (256, 64, 1, 1),
                 "layer1.0.downsample.0.weight": (256, 64, 1, 1),
                 "layer2.0.conv2.weight": (128, 128, 3, 3), "layer4.2.bn3.weight": (2048,),
                 "fc.weight": (1000, 2048)},
}
# torchvision keys that must NOT exist (a layer in the wrong place would create them)
ABSENT = {"alexnet": ["features.1.weight", "classifier.0.weight"],
          "vgg16": ["features.29.weight", "features.30.weight"],
          "resnet18": ["layer1.0.downsample.0.weight", "maxpool.weight"],
          "resnet50": ["layer2.1.downsample.0.weight"]}


@pytest.mark.parametrize("arch", sorted(TORCHVISION_ENTRIES))
def test_parameter_names_are_torchvisions(arch, monkeypatch):
    shapes = _shapes(_build_uninitialised(monkeypatch, arch))
    for key, shape in TORCHVISION_ENTRIES[arch].items():
        assert shapes.get(key) == shape, key
    for key in ABSENT.get(arch, []):
        assert key not in shapes
    assert not any(k.endswith("num_batches_tracked") for k in shapes)


def test_resnet18_entry_counts():
    """20 convs (1 stem + 16 in blocks + 3 projections), 20 BatchNorms, 1 fc."""
    model = resnet18(num_classes=10)
    assert len(list(model.named_parameters())) == 20 + 2 * 20 + 2
    assert len(list(model.named_buffers())) == 2 * 20


def test_resnet18_forward_backward_on_a_small_image():
    minidl.manual_seed(0)
    model = resnet18(num_classes=10)
    x = Tensor(np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32),
               requires_grad=True)
    features = model.forward_features(x)
    assert features.shape == (1, 512)
    logits = model.fc(features)
    assert logits.shape == (1, 10)
    (logits * Tensor(np.arange(10, dtype=np.float32))).sum().backward()
    assert x.grad.shape == x.shape and np.abs(x.grad).sum() > 0
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert np.isfinite(p.grad).all(), name
    assert np.abs(model.conv1.weight.grad).sum() > 0       # the gradient reached the stem
    assert model.stage("stem") == [model.conv1, model.bn1] and list(model.stages)[-1] == "fc"


@pytest.mark.parametrize("block, planes, out_channels", [(BasicBlock, 4, 4), (Bottleneck, 2, 8)])
def test_projection_blocks_match_finite_differences(block, planes, out_channels):
    minidl.manual_seed(1)
    downsample = nn.Sequential(nn.Conv2d(3, out_channels, 1, stride=2, bias=False),
                               nn.BatchNorm2d(out_channels))
    b = block(3, planes, stride=2, downsample=downsample).double()
    x = Tensor(np.random.default_rng(2).standard_normal((2, 3, 5, 5)), requires_grad=True)
    assert b(x).shape == (2, out_channels, 3, 3)
    assert minidl.gradcheck(lambda t: b(t), [x], atol=1e-6, rtol=1e-4).passed


def test_resnet50_at_its_smallest_input(monkeypatch):
    model = _build_uninitialised(monkeypatch, "resnet50", fill=0.01).eval()
    with no_grad():
        assert model.forward_features(Tensor(np.ones((1, 3, 32, 32), np.float32))).shape == (1, 2048)


def test_alexnet_at_224(monkeypatch):
    model = _build_uninitialised(monkeypatch, "alexnet", fill=0.0).eval()
    minidl.manual_seed(0)
    for m in model.features:
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)
    x = Tensor(np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32))
    with no_grad():
        features = model.features(x)
        logits = model(x)
    assert features.shape == (1, 256, 6, 6) and np.abs(features.numpy()).sum() > 0
    assert logits.shape == (1, 1000)
    table = model.summary((1, 3, 224, 224))
    for shape in ["(1, 64, 55, 55)", "(1, 192, 27, 27)", "(1, 384, 13, 13)", "(1, 256, 6, 6)"]:
        assert shape in table
    assert f"total parameters: {PUBLISHED['alexnet']:,}" in table
    # like torchvision's, other input sizes work: avgpool makes 6x6 out of a 256x256 input's 7x7 map
    with no_grad():
        assert model(Tensor(np.zeros((1, 3, 256, 256), np.float32))).shape == (1, 1000)


@pytest.mark.parametrize("arch, convs", [("vgg16", 13), ("vgg16_bn", 13), ("vgg19", 16), ("vgg19_bn", 16)])
def test_vgg_feature_stack(arch, convs, monkeypatch):
    model = _build_uninitialised(monkeypatch, arch, fill=0.0).eval()
    layers = list(model.features)
    assert sum(isinstance(m, nn.Conv2d) for m in layers) == convs
    assert sum(isinstance(m, nn.BatchNorm2d) for m in layers) == (convs if arch.endswith("_bn") else 0)
    assert sum(isinstance(m, nn.MaxPool2d) for m in layers) == 5
    with no_grad():
        assert model.features(Tensor(np.zeros((1, 3, 32, 32), np.float32))).shape == (1, 512, 1, 1)
        assert model.classifier(Tensor(np.zeros((1, 512 * 7 * 7), np.float32))).shape == (1, 1000)


# ------------------------------------------------------------------------------------------
# Inception module and the cost of a convolution
# ------------------------------------------------------------------------------------------

def _hand_cost(layers, hw):
    """(in, out, k) per conv, all at hw x hw, stride 1, 'same' padding: (params, multiply-adds)."""
    params = sum(i * o * k * k + o for i, o, k in layers)
    macs = sum(i * o * k * k * hw * hw for i, o, k in layers)
    return params, macs


def test_inception_3a_with_and_without_reductions():
    """GoogLeNet's inception (3a): 192 channels in at 28x28, (64, 96, 128, 16, 32, 32).
    The paper's table lists 128M operations for it, as counted here; the naive module costs
    2.4 times as much and, with the pooled input passed through, outputs 416 channels, not 256."""
    args = (192, 64, 96, 128, 16, 32, 32)
    reduced, naive = InceptionModule(*args), InceptionModule(*args, reductions=False)
    r_params, r_macs = _hand_cost([(192, 64, 1), (192, 96, 1), (96, 128, 3), (192, 16, 1),
                                   (16, 32, 5), (192, 32, 1)], 28)
    n_params, n_macs = _hand_cost([(192, 64, 1), (192, 128, 3), (192, 32, 5)], 28)
    assert (reduced.num_parameters(), reduced.multiply_adds(28, 28)) == (r_params, r_macs)
    assert (naive.num_parameters(), naive.multiply_adds(28, 28)) == (n_params, n_macs)
    assert round(r_macs / 1e6) == 128 and n_macs > 2 * r_macs
    assert (reduced.out_channels, naive.out_channels) == (256, 416)


@settings(max_examples=20, deadline=None)
@given(in_ch=st.integers(1, 6), chans=st.lists(st.integers(1, 4), min_size=6, max_size=6),
       h=st.integers(1, 6), w=st.integers(1, 6), reductions=st.booleans(), seed=st.integers(0, 999))
def test_inception_concatenates_its_branches_in_order(in_ch, chans, h, w, reductions, seed):
    minidl.manual_seed(seed)
    module = InceptionModule(in_ch, *chans, reductions=reductions)
    x = Tensor(np.random.default_rng(seed).standard_normal((2, in_ch, h, w)).astype(np.float32),
               requires_grad=True)
    out = module(x)
    assert out.shape == (2, module.out_channels, h, w)
    start = 0
    for branch in (module.branch1, module.branch2, module.branch3, module.branch4):
        part = branch(x).numpy()
        np.testing.assert_array_equal(out.numpy()[:, start:start + part.shape[1]], part)
        start += part.shape[1]
    assert start == module.out_channels
    out.sum().backward()
    assert x.grad.shape == x.shape


@settings(max_examples=30, deadline=None)
@given(groups=st.integers(1, 3), in_per=st.integers(1, 3), out_per=st.integers(1, 3),
       k=st.tuples(st.integers(1, 4), st.integers(1, 4)), stride=st.integers(1, 3),
       padding=st.integers(0, 2), dilation=st.integers(1, 2), h=st.integers(1, 9), w=st.integers(1, 9))
def test_conv_multiply_adds_counts_every_tap_of_every_output(groups, in_per, out_per, k, stride,
                                                             padding, dilation, h, w):
    conv = nn.Conv2d(groups * in_per, groups * out_per, k, stride=stride, padding=padding,
                     dilation=dilation, groups=groups)
    fits = all(n + 2 * padding >= dilation * (kk - 1) + 1 for n, kk in ((h, k[0]), (w, k[1])))
    if not fits:
        with pytest.raises(ValueError, match="conv2d_multiply_adds"):
            conv2d_multiply_adds(conv, (h, w))
        return
    with no_grad():
        out = conv(Tensor(np.zeros((1, groups * in_per, h, w), np.float32)))
    # each output value is a dot product over one group's channels and the kernel window
    assert conv2d_multiply_adds(conv, (h, w)) == out.numel() * in_per * k[0] * k[1]
