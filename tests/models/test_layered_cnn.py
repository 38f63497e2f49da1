"""layered_cnn: numbered conv layers whose first k a transfer study copies and freezes."""
import numpy as np
import pytest

import minidl
from minidl import Tensor
from minidl import functional as F
from minidl.models import layered_cnn
from minidl.transfer import copy_weights, freeze, stage_names


def test_shapes_stages_and_parameter_count():
    model = layered_cnn(5, num_classes=5)
    assert stage_names(model)[:5] == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    out = model(Tensor(np.zeros((2, 1, 28, 28), np.float32)))
    assert out.shape == (2, 5)
    assert model.features(Tensor(np.zeros((2, 1, 28, 28), np.float32))).shape == (2, 64)
    # conv weights + biases + BN gamma/beta, and the head: counted by hand
    convs = [(1, 16), (16, 32), (32, 32), (32, 64), (64, 64)]
    expected = sum(i * o * 9 + o + 2 * o for i, o in convs) + 64 * 5 + 5
    assert model.num_parameters() == expected
    assert layered_cnn(2)(Tensor(np.zeros((1, 1, 28, 28), np.float32))).shape == (1, 10)
    with pytest.raises(ValueError, match="depth"):
        layered_cnn(6)


def test_copying_and_freezing_the_first_k_layers():
    minidl.manual_seed(0)
    source, target = layered_cnn(5, 5), layered_cnn(5, 5)
    keys = copy_weights(source, target, upto="conv2")
    assert keys and all(k.startswith(("conv1.", "conv2.")) for k in keys)
    src, tgt = source.state_dict(), target.state_dict()
    assert all(np.array_equal(src[k], tgt[k]) for k in keys)
    assert not np.array_equal(src["conv3.0.weight"], tgt["conv3.0.weight"])
    freeze(target, upto="conv2", bn="freeze")
    before = {k: v.copy() for k, v in target.state_dict().items()}
    x = Tensor(np.random.default_rng(0).standard_normal((8, 1, 28, 28)).astype(np.float32))
    target.train()
    F.cross_entropy(target(x), Tensor(np.arange(8) % 5)).backward()
    opt = minidl.optim.SGD([p for p in target.parameters() if p.requires_grad], lr=0.1)
    opt.step()
    after = target.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in keys)           # BN statistics too
    assert not np.array_equal(before["conv3.0.weight"], after["conv3.0.weight"])
