"""CIFAR ResNets: the architecture the published weights expect, the option-A shortcut, and the
real checkpoints (loaded strictly, BatchNorm statistics intact, chelsea the cat recognised).
Finding the checkpoint files is tested in tests/pretrained/test_locate.py.

Tests that need the checkpoint files look in $MINIDL_WEIGHTS or <repo>/../shared/pretrained and
skip when the files are absent; nothing here downloads.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import Tensor, no_grad
from minidl import functional as F
from minidl.models.resnet_cifar import (CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, BasicBlock,
                                        LambdaShortcut, normalize, resnet_cifar)
from minidl.pretrained import load_torch_state_dict

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = Path(os.environ.get("MINIDL_WEIGHTS") or REPO.parent / "shared" / "pretrained")

# From shared/pretrained/README.md: depth -> (file, parameter count)
PUBLISHED = {20: ("resnet20-12fca82f.th", 269_722), 32: ("resnet32-d509ac18.th", 464_154),
             44: ("resnet44-014dd654.th", 658_586), 56: ("resnet56-4bfd9763.th", 853_018)}


def _real(depth: int) -> Path:
    path = WEIGHTS / PUBLISHED[depth][0]
    if not path.is_file():
        pytest.skip(f"pretrained checkpoint {path} not present (set MINIDL_WEIGHTS to its folder)")
    return path


@pytest.fixture
def weights_env(monkeypatch, tmp_path):
    """Point minidl.pretrained at the real files' folder and at an empty cache, so nothing downloads."""
    _real(20)
    monkeypatch.setenv("MINIDL_WEIGHTS", str(WEIGHTS))
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    return WEIGHTS


# ------------------------------------------------------------------------------------------
# Architecture
# ------------------------------------------------------------------------------------------

def _expected_parameters(depth: int, num_classes: int = 10) -> int:
    """Counted from the architecture description: 3x3 convs without bias, BN scale + shift."""
    n = (depth - 2) // 6
    total = 3 * 16 * 9 + 2 * 16                       # conv1, bn1
    for c_in, c in ((16, 16), (16, 32), (32, 64)):
        total += c_in * c * 9 + (2 * n - 1) * c * c * 9   # the first conv may change channels
        total += 2 * n * 2 * c                        # two BatchNorms per block
    return total + 64 * num_classes + num_classes     # linear


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_parameter_count_matches_the_architecture_and_the_readme(depth):
    model = resnet_cifar(depth)
    assert model.num_parameters() == _expected_parameters(depth)
    if depth in PUBLISHED:
        assert model.num_parameters() == PUBLISHED[depth][1]
    # BatchNorm keeps its running statistics as buffers, two per BN layer
    bn_layers = 1 + 2 * 3 * ((depth - 2) // 6)
    assert len(list(model.named_buffers())) == 2 * bn_layers


def test_children_stages_and_shapes():
    model = resnet_cifar(20, num_classes=7)
    assert list(dict(model.named_children())) == ["conv1", "bn1", "layer1", "layer2", "layer3",
                                                  "pool", "linear"]
    assert list(model.stages) == ["stem", "layer1", "layer2", "layer3", "linear"]
    assert model.stage("stem") == [model.conv1, model.bn1]
    assert model.stage("linear") == [model.linear]
    with pytest.raises(KeyError, match="layer4"):
        model.stage("layer4")
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    with no_grad():
        stem = model.bn1(model.conv1(x))
        h1 = model.layer1(stem)
        h2 = model.layer2(h1)
        h3 = model.layer3(h2)
        features = model.forward_features(x)
        logits = model(x)
    assert (h1.shape, h2.shape, h3.shape) == ((2, 16, 32, 32), (2, 32, 16, 16), (2, 64, 8, 8))
    assert features.shape == (2, 64) and logits.shape == (2, 7)
    # forward is the head applied to forward_features
    with no_grad():
        np.testing.assert_allclose(model.linear(features).numpy(), logits.numpy(), rtol=1e-6, atol=1e-6)
    # only the first block of layer2 and layer3 changes shape, through a parameter-free shortcut
    shortcuts = {name: type(m).__name__ for name, m in model.named_modules() if name.endswith("shortcut")}
    assert {n for n, t in shortcuts.items() if t == "LambdaShortcut"} == {"layer2.0.shortcut", "layer3.0.shortcut"}
    assert not any("shortcut" in name for name, _ in model.named_parameters())


@pytest.mark.parametrize("stride", [1, 2])
def test_a_block_computes_the_papers_formula_with_its_relus_fused(stride):
    """relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut(x)) spelt out op by op: the same outputs,
    input gradient and parameter gradients in training mode, and in evaluation (the fused
    convolutions) the same outputs (float64, to 1e-12)."""
    minidl.manual_seed(1)
    block = BasicBlock(4, 4 * stride, stride).double()
    x = np.random.default_rng(2).standard_normal((3, 4, 6, 6))

    def run(forward):
        for p in block.parameters():
            p.grad = None
        xt = Tensor(x, requires_grad=True)
        y = forward(xt)
        (y * y).sum().backward()
        return [y.data, xt.grad] + [p.grad for p in block.parameters()]

    def lecture(x):
        out = F.relu(block.bn1(block.conv1(x)))
        return F.relu(block.bn2(block.conv2(out)) + block.shortcut(x))
    for a, b in zip(run(block), run(lecture)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    block.eval()
    with no_grad():
        np.testing.assert_allclose(block(Tensor(x)).data, lecture(Tensor(x)).data, rtol=1e-12, atol=1e-12)


def test_bad_depth_and_pretrained_head_are_refused():
    with pytest.raises(ValueError, match="depth"):
        resnet_cifar(21)
    with pytest.raises(ValueError, match="num_classes"):
        resnet_cifar(20, num_classes=5, pretrained=True)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), half_c=st.integers(1, 4), h=st.integers(1, 7), w=st.integers(1, 7),
       seed=st.integers(0, 2**16))
def test_option_a_shortcut_forward_and_gradient(n, half_c, h, w, seed):
    """x[:, :, ::2, ::2] with planes/4 zero channels each side; the gradient reaches exactly the
    kept pixels (odd sizes included: ceil(h/2) rows are kept)."""
    c = 2 * half_c
    pad = (2 * c) // 4                              # planes = 2c
    rng = np.random.default_rng(seed)
    x_np = rng.standard_normal((n, c, h, w))
    weights = rng.standard_normal((n, c + 2 * pad, (h + 1) // 2, (w + 1) // 2))
    x = Tensor(x_np, requires_grad=True)
    out = LambdaShortcut(pad)(x)
    expected = np.zeros(weights.shape)
    for i in range(0, h, 2):
        for j in range(0, w, 2):
            expected[:, pad:pad + c, i // 2, j // 2] = x_np[:, :, i, j]
    np.testing.assert_array_equal(out.numpy(), expected)
    (out * Tensor(weights)).sum().backward()
    grad = np.zeros_like(x_np)
    for i in range(0, h, 2):
        for j in range(0, w, 2):
            grad[:, :, i, j] = weights[:, pad:pad + c, i // 2, j // 2]
    np.testing.assert_array_equal(x.grad, grad)


def test_downsampling_block_gradients_match_finite_differences():
    """A stride-2 block (convs, BNs in training mode, shortcut, ReLUs) in float64."""
    minidl.manual_seed(3)
    block = BasicBlock(2, 4, stride=2).double()
    x = Tensor(np.random.default_rng(1).standard_normal((2, 2, 5, 5)), requires_grad=True)
    result = minidl.gradcheck(lambda t: block(t), [x], atol=1e-6, rtol=1e-4)
    assert result.passed
    block.zero_grad()
    block(x).sum().backward()
    assert all(p.grad is not None and np.abs(p.grad).sum() > 0 for p in block.parameters())


def test_normalize_layout_and_statistics():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 5, 4, 3), dtype=np.uint8)
    x = normalize(images)
    assert x.shape == (2, 3, 5, 4) and x.dtype == np.float32
    for ch in range(3):
        want = (images[..., ch] / 255.0 - CIFAR10_MEAN[ch]) / CIFAR10_STD[ch]
        np.testing.assert_allclose(x[:, ch], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(normalize(images[0] / 255.0), x[:1], rtol=1e-5, atol=1e-5)
    with pytest.raises(minidl.ShapeError, match="RGB"):
        normalize(np.zeros((4, 4)))


# ------------------------------------------------------------------------------------------
# The real checkpoints
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", sorted(PUBLISHED))
def test_real_checkpoint_loads_strictly_with_every_array_intact(depth, weights_env):
    checkpoint = load_torch_state_dict(_real(depth))
    model = resnet_cifar(depth, pretrained=True)
    assert not model.training                      # ready to predict
    state = model.state_dict()
    # every checkpoint entry has a place (nothing left over) and every model entry is filled
    assert {k.removeprefix("module.") for k in checkpoint} == set(state)
    for key, value in checkpoint.items():
        np.testing.assert_array_equal(state[key.removeprefix("module.")], value, err_msg=key)
    # the BatchNorm running statistics in particular came over (they are not learned parameters)
    stats = [k for k in state if k.endswith(("running_mean", "running_var"))]
    assert len(stats) == 2 * (1 + 6 * ((depth - 2) // 6))
    np.testing.assert_array_equal(model.layer3[-1].bn2.running_var,
                                  checkpoint[f"module.layer3.{(depth - 2) // 6 - 1}.bn2.running_var"])


def _chelsea_32() -> np.ndarray:
    skimage = pytest.importorskip("skimage")
    from skimage import transform
    return transform.resize(skimage.data.chelsea(), (32, 32), anti_aliasing=True)


@pytest.mark.parametrize("depth", sorted(PUBLISHED))
def test_chelsea_is_a_cat(depth, weights_env):
    _real(depth)
    model = resnet_cifar(depth, pretrained=True)
    with no_grad():
        probs = model(Tensor(normalize(_chelsea_32()))).softmax(-1).numpy()[0]
    assert CIFAR10_CLASSES[int(probs.argmax())] == "cat"
    if depth == 20:
        assert probs[CIFAR10_CLASSES.index("cat")] > 0.9


def test_untrained_network_does_not_find_the_cat_with_confidence():
    """Control for the test above: without the weights the same input is no confident cat."""
    minidl.manual_seed(0)
    model = resnet_cifar(20).eval()
    with no_grad():
        probs = model(Tensor(normalize(_chelsea_32()))).softmax(-1).numpy()[0]
    assert probs[CIFAR10_CLASSES.index("cat")] < 0.9
