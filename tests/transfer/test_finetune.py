"""Fine-tuning parameter groups (head at 10x, geometric spread over stages) and stage copying."""
from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl import optim
from minidl.models.resnet_cifar import CifarResNet
from minidl.transfer import copy_weights, freeze, param_groups, replace_head

ORDER = ["stem", "layer1", "layer2", "layer3"]


def small_resnet(seed=0, num_classes=10):
    minidl.manual_seed(seed)
    return CifarResNet(1, num_classes)


def stage_of(name):
    return "stem" if name.startswith(("conv1.", "bn1.")) else name.split(".")[0]


def by_name(groups):
    return {g["name"]: g for g in groups}


def test_default_groups_are_body_at_base_and_head_at_ten_times():
    model = small_resnet()
    groups = by_name(param_groups(model, base_lr=0.02))
    assert list(groups) == ["body", "head"]
    assert groups["body"]["lr"] == pytest.approx(0.02)
    assert groups["head"]["lr"] == pytest.approx(0.2)
    assert groups["head"]["params"] == [model.linear.weight, model.linear.bias]
    every = [p for g in groups.values() for p in g["params"]]
    assert len(every) == len({id(p) for p in every}) == len(list(model.parameters()))


def test_decay_spreads_rates_geometrically_towards_the_input():
    model = small_resnet()
    base, decay = 0.04, 0.5
    groups = param_groups(model, base, decay=decay, head_lr_mult=10.0)
    assert [g["name"] for g in groups] == ORDER + ["head"]
    lrs = [g["lr"] for g in groups]
    for earlier, later in zip(lrs[:3], lrs[1:4]):
        assert earlier == pytest.approx(decay * later)
    assert lrs[3] == pytest.approx(base) and lrs[4] == pytest.approx(10 * base)
    for g in groups[:-1]:
        assert {stage_of(n) for n in g["param_names"]} == {g["name"]}


def test_frozen_parameters_are_left_out_and_the_spread_starts_at_the_last_stage():
    model = small_resnet()
    freeze(model, upto="layer1")
    groups = param_groups(model, 0.01, decay=0.1)
    assert [g["name"] for g in groups] == ["layer2", "layer3", "head"]
    assert [g["lr"] for g in groups] == pytest.approx([0.001, 0.01, 0.1])
    assert all(p.requires_grad for g in groups for p in g["params"])
    freeze(model)
    with pytest.raises(ValueError, match="no trainable parameters"):
        param_groups(model, 0.01)
    replace_head(model, 3)
    assert [g["name"] for g in param_groups(model, 0.01)] == ["head"]


def test_each_group_moves_its_parameters_at_its_own_rate_in_minidl_sgd():
    model = small_resnet()
    groups = param_groups(model, 0.01, decay=0.5)
    opt = optim.SGD(groups, lr=0.01)
    assert [g["name"] for g in opt.param_groups] == [g["name"] for g in groups]
    before = {id(p): p.numpy().copy() for p in model.parameters()}
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    opt.step()
    for g in groups:
        for p in g["params"]:
            np.testing.assert_allclose(before[id(p)] - p.numpy(), g["lr"], rtol=1e-4,
                                       err_msg=g["name"])


def test_bad_arguments_are_errors():
    model = small_resnet()
    with pytest.raises(ValueError, match="decay"):
        param_groups(model, 0.01, decay=1.5)
    with pytest.raises(ValueError, match="base_lr"):
        param_groups(model, 0.0)
    with pytest.raises(KeyError, match="'fc'"):
        param_groups(model, 0.01, head="fc")


def test_copy_weights_transplants_the_first_stages_with_their_statistics():
    source, target = small_resnet(seed=1), small_resnet(seed=2)
    source.bn1.running_mean[...] = 3.0          # a statistic that differs between the two
    original = target.state_dict()
    keys = copy_weights(source, target, upto="layer1")
    assert "bn1.running_mean" in keys and {stage_of(k) for k in keys} == {"stem", "layer1"}
    src, now = source.state_dict(), target.state_dict()
    for k in now:
        expected = src[k] if stage_of(k) in ("stem", "layer1") else original[k]
        np.testing.assert_array_equal(now[k], expected, err_msg=k)


def test_copy_weights_refuses_what_does_not_fit():
    source, target = small_resnet(seed=1, num_classes=10), small_resnet(seed=2, num_classes=4)
    before = target.state_dict()
    with pytest.raises(KeyError, match=r"linear\.weight: source \(10, 64\), target \(4, 64\)"):
        copy_weights(source, target, names=["layer3", "linear"])
    for k, v in target.state_dict().items():       # nothing was copied, not even layer3
        np.testing.assert_array_equal(v, before[k], err_msg=k)
