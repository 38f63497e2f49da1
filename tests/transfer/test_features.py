"""Feature extraction (any named layer, only the prefix computed, eval mode) and the logistic
regression trained in minidl, checked against scikit-learn's on the same features."""
from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl import Tensor, nn, no_grad
from minidl import functional as F
from minidl.models.resnet_cifar import CifarResNet
from minidl.transfer import extract_features


def small_resnet(seed=0):
    minidl.manual_seed(seed)
    model = CifarResNet(1, 10)
    rng = np.random.default_rng(seed)
    for name, buf in model.named_buffers():      # non-trivial statistics, so eval mode matters
        buf[...] = rng.uniform(0.5, 1.5, buf.shape) if name.endswith("var") else rng.normal(0, 0.1, buf.shape)
    return model


def images(n=10, size=8, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 3, size, size)).astype(np.float32)


def manual_prefix(model, x, upto):
    """The stem and stages written out by hand, in eval mode."""
    model.eval()
    with no_grad():
        out = F.relu(model.bn1(model.conv1(Tensor(x))))
        for stage in ("layer1", "layer2", "layer3"):
            out = getattr(model, stage)(out)
            if stage == upto:
                return out.numpy()
        return F.flatten(model.pool(out), 1).numpy()


@pytest.mark.parametrize("layer, shape", [("layer1", (10, 16, 8, 8)), ("layer2", (10, 32, 4, 4)),
                                          ("layer3", (10, 64, 2, 2)), ("pool", (10, 64, 1, 1))])
def test_features_equal_a_manual_forward_of_the_prefix(layer, shape):
    model = small_resnet()
    x = images()
    feats = extract_features(model, layer, x, batch_size=4, progress=False)
    assert feats.shape == shape and feats.dtype == np.float32
    expected = manual_prefix(model, x, layer)
    # Batches of 4 against one of 10: the convolutions' BLAS products see other column counts and
    # may add in another order, so float32 features of order 1 agree to ~1e-6, not bit for bit.
    np.testing.assert_allclose(feats.reshape(expected.shape), expected, rtol=1e-5, atol=1e-5)


def test_flatten_and_the_models_own_output():
    model = small_resnet()
    x = images(7)
    pooled = extract_features(model, "pool", x, flatten=True, progress=False)
    assert pooled.shape == (7, 64)
    model.eval()
    with no_grad():
        np.testing.assert_allclose(pooled, model.forward_features(Tensor(x)).numpy(), rtol=1e-5, atol=1e-6)
        logits = model(Tensor(x)).numpy()
    np.testing.assert_allclose(extract_features(model, "", x, progress=False), logits, rtol=1e-5, atol=1e-6)


def test_only_the_prefix_runs_and_the_model_is_left_as_it_was():
    model = small_resnet()

    class Forbidden(nn.Module):
        def forward(self, x):
            raise AssertionError("a layer after the extracted one was run")

    model.layer3 = Forbidden()
    model.train()
    stats = {k: v.copy() for k, v in model.named_buffers()}
    feats = extract_features(model, "layer2.0.bn2", images(5), progress=False)
    assert feats.shape == (5, 32, 4, 4)
    assert model.training and all(m.training for m in model.modules())
    assert "forward" not in model.layer2[0].bn2.__dict__
    for k, v in model.named_buffers():           # eval mode: statistics untouched
        np.testing.assert_array_equal(v, stats[k], err_msg=k)
    with no_grad():                              # its hook is gone: calling the layer returns again
        assert model.layer2[0].bn2(Tensor(np.ones((1, 32, 2, 2), np.float32))).shape == (1, 32, 2, 2)


def test_the_hooks_are_removed_when_a_batch_fails():
    model = small_resnet()

    def transform(batch):
        if transform.calls == 1:
            raise RuntimeError("a bad batch")
        transform.calls += 1
        return batch
    transform.calls = 0

    with pytest.raises(RuntimeError, match="a bad batch"):
        extract_features(model, ["layer1", "layer2"], images(8), batch_size=4, transform=transform,
                         progress=False)
    assert model.training                        # its mode is restored
    with no_grad():                              # a left-over hook would stop this at layer2
        assert model(Tensor(images(2))).shape == (2, 10)


def test_a_transform_is_applied_per_batch_and_unknown_layers_are_errors():
    model = small_resnet()
    raw = images(6)
    doubled = extract_features(model, "layer1", raw, transform=lambda b: 2 * b, progress=False)
    np.testing.assert_allclose(doubled, manual_prefix(model, 2 * raw, "layer1"), rtol=1e-5, atol=1e-6)
    with pytest.raises(KeyError, match="no layer 'layer9'.*layer1"):
        extract_features(model, "layer9", raw, progress=False)


def test_several_layers_in_one_pass_equal_one_layer_at_a_time():
    model = small_resnet()
    x = images()
    both = extract_features(model, ["layer2", "layer1"], x, batch_size=4, progress=False)
    assert list(both) == ["layer2", "layer1"]
    for layer in ("layer1", "layer2"):
        np.testing.assert_array_equal(both[layer], extract_features(model, layer, x, batch_size=4,
                                                                    progress=False))
    flat = extract_features(model, ["layer1", "pool"], x, flatten=True, progress=False)
    assert flat["layer1"].shape == (10, 16 * 8 * 8) and flat["pool"].shape == (10, 64)

    class Forbidden(nn.Module):                  # the pass stops after the last layer asked for
        def forward(self, x):
            raise AssertionError("a layer after the extracted ones was run")

    model.layer3 = Forbidden()
    assert extract_features(model, ["layer1", "layer2"], x, progress=False)["layer2"].shape == (10, 32, 4, 4)
    assert "forward" not in model.layer1.__dict__ and "forward" not in model.layer2.__dict__
