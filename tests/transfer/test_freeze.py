"""Freezing: which parameters stop learning, that the backward pass really skips their gradients,
the BatchNorm policies, head replacement and strict loading into a changed head."""
from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl import Tensor, nn, optim
from minidl import functional as F
from minidl.functional import conv as conv_module
from minidl.models.resnet_cifar import CifarResNet
from minidl.transfer import freeze, replace_head, select, stage_names, trainable_summary, unfreeze

STAGES = ["stem", "layer1", "layer2", "layer3", "linear"]
STAGE_PREFIXES = {"stem": ("conv1.", "bn1."), "layer1": ("layer1.",), "layer2": ("layer2.",),
                  "layer3": ("layer3.",), "linear": ("linear.",)}


def small_resnet(seed=0, num_classes=10):
    """A depth-8 CIFAR ResNet (one block per stage): the real layout, small enough to be quick."""
    minidl.manual_seed(seed)
    return CifarResNet(1, num_classes)


def batch(seed=0, n=8, size=8):
    rng = np.random.default_rng(seed)
    return (Tensor(rng.standard_normal((n, 3, size, size)).astype(np.float32)),
            Tensor(rng.integers(0, 10, n)))


def stage_of(name):
    return next(s for s, prefixes in STAGE_PREFIXES.items() if name.startswith(prefixes))


def trainable_names(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def train_steps(model, opt, steps=3, seed=0):
    model.train()
    for i in range(steps):
        x, y = batch(seed + i)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


# ----- selecting by name and by stage ---------------------------------------------------------
def test_stage_names_follow_the_models_stages_then_its_children():
    assert stage_names(small_resnet()) == STAGES
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert stage_names(seq) == ["0", "1", "2"]


@pytest.mark.parametrize("upto", STAGES)
def test_freeze_upto_a_stage_freezes_it_and_everything_before(upto):
    model = small_resnet()
    frozen = freeze(model, upto=upto)
    cut = STAGES.index(upto)
    for name, p in model.named_parameters():
        expect_frozen = STAGES.index(stage_of(name)) <= cut
        assert p.requires_grad is not expect_frozen, name
    assert frozen == [n for n, p in model.named_parameters() if not p.requires_grad]


def test_freeze_by_dotted_name_is_a_prefix_match_on_whole_components():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer1 = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
            self.layer10 = nn.Linear(2, 2)

    net = Net()
    frozen = freeze(net, names="layer1")
    assert frozen == ["layer1.0.weight", "layer1.0.bias", "layer1.1.weight", "layer1.1.bias"]
    assert trainable_names(net) == {"layer10.weight", "layer10.bias"}
    freeze(net, names=["layer1.1"])   # a deeper name works too
    unfreeze(net, names=["layer1.1"])
    assert trainable_names(net) == {"layer1.1.weight", "layer1.1.bias", "layer10.weight", "layer10.bias"}


def test_a_stage_name_can_be_used_as_a_name():
    model = small_resnet()
    freeze(model, names=["stem", "layer3.0.conv2"])
    assert {n for n, p in model.named_parameters() if not p.requires_grad} == {
        "conv1.weight", "bn1.weight", "bn1.bias", "layer3.0.conv2.weight"}


def test_upto_works_on_a_plain_sequential_by_child_order():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 3), nn.Linear(3, 1))
    freeze(seq, upto="2")
    assert trainable_names(seq) == {"3.weight", "3.bias"}


def test_freeze_everything_then_unfreeze_a_stage():
    model = small_resnet()
    freeze(model)
    assert model.num_parameters(trainable_only=True) == 0
    unfrozen = unfreeze(model, upto="layer1")
    assert {stage_of(n) for n in unfrozen} == {"stem", "layer1"}
    assert trainable_names(model) == set(unfrozen)
    assert not model.bn1.frozen_stats and model.layer2[0].bn1.frozen_stats


def test_unknown_names_and_stages_are_errors_that_list_the_choices():
    model = small_resnet()
    with pytest.raises(KeyError, match="layer4.*layer1"):
        freeze(model, names="layer4")
    with pytest.raises(KeyError, match="upto='head'.*stem"):
        freeze(model, upto="head")
    with pytest.raises(ValueError, match="not both"):
        select(model, names="layer1", upto="layer2")
    with pytest.raises(ValueError, match="bn must be one of"):
        freeze(model, upto="stem", bn="running")


# ----- frozen means unchanged, and no gradient is computed -------------------------------------
def test_frozen_parameters_do_not_move_while_the_others_do():
    model = small_resnet()
    freeze(model, upto="layer1")
    before = model.state_dict()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)   # all parameters handed over
    train_steps(model, opt)
    after = model.state_dict()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert not np.array_equal(before[name], after[name]), f"{name} did not train"
        else:
            np.testing.assert_array_equal(before[name], after[name], err_msg=name)
            assert p.grad is None, f"frozen {name} got a gradient"
    for name in before:   # BatchNorm statistics of the frozen part stay, the rest adapt
        if name.endswith(("running_mean", "running_var")):
            same = np.array_equal(before[name], after[name])
            assert same == (stage_of(name) in ("stem", "layer1")), name


@pytest.fixture
def conv_spy(monkeypatch):
    """Records, for every Conv2d backward, the weight's id and which gradients it returned."""
    calls = []
    original = conv_module.Conv2d.backward

    def spy(self, g):
        dx, dw, db = original(self, g)
        calls.append({"weight": id(self.inputs[1]), "dx": dx is not None, "dw": dw is not None})
        return dx, dw, db

    monkeypatch.setattr(conv_module.Conv2d, "backward", spy)
    return calls


def conv_names(model):
    return {id(m.weight): name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def backward_once(model):
    model.train()
    x, y = batch()
    F.cross_entropy(model(x), y).backward()


def test_a_frozen_middle_stage_passes_gradients_through_but_computes_no_weight_gradient(conv_spy):
    model = small_resnet()
    freeze(model, names="layer2")
    backward_once(model)
    names = conv_names(model)
    seen = {names[c["weight"]]: c for c in conv_spy}
    assert set(seen) == set(names.values())          # every conv is on the path to layer1
    for name, call in seen.items():
        assert call["dw"] == (not name.startswith("layer2")), name
        assert call["dx"] == (name != "conv1"), name    # the image needs no gradient
    assert model.layer2[0].conv1.weight.grad is None
    assert model.layer1[0].conv1.weight.grad is not None


def test_nothing_below_a_frozen_prefix_is_differentiated(conv_spy):
    model = small_resnet()
    freeze(model, upto="layer2")
    backward_once(model)
    names = conv_names(model)
    called = [names[c["weight"]] for c in conv_spy]
    assert sorted(called) == ["layer3.0.conv1", "layer3.0.conv2"]
    first = next(c for c in conv_spy if names[c["weight"]] == "layer3.0.conv1")
    assert first == {"weight": id(model.layer3[0].conv1.weight), "dx": False, "dw": True}
    assert all(p.grad is None for n, p in model.named_parameters() if not n.startswith(("layer3", "linear")))


# ----- BatchNorm policies ------------------------------------------------------------------------
def running_stats(model, prefix):
    return {n: v for n, v in model.state_dict().items()
            if n.startswith(prefix) and n.endswith(("running_mean", "running_var"))}


def forward_train(model, seed=1):
    x, y = batch(seed)
    model.train()
    out = model(x)
    F.cross_entropy(out, y).backward()
    return out


def test_bn_freeze_keeps_running_stats_even_after_model_train():
    model = small_resnet()
    freeze(model, upto="layer1", bn="freeze")
    model.train()                      # must not undo the freeze
    before = running_stats(model, "layer1")
    forward_train(model)
    forward_train(model, seed=2)
    after = running_stats(model, "layer1")
    for k in before:
        np.testing.assert_array_equal(before[k], after[k], err_msg=k)
    bn = model.layer1[0].bn1
    assert bn.frozen_stats and not bn.weight.requires_grad and bn.weight.grad is None
    # with fixed statistics a frozen BatchNorm computes the same in train and eval mode
    x = Tensor(np.random.default_rng(3).standard_normal((4, 16, 5, 5)).astype(np.float32))
    train_out = bn(x).numpy()
    bn.eval()
    np.testing.assert_allclose(train_out, bn(x).numpy(), rtol=0, atol=0)


def test_bn_adapt_updates_running_stats_but_not_gamma_beta():
    model = small_resnet()
    freeze(model, upto="layer1", bn="adapt")
    before = running_stats(model, "layer1")
    forward_train(model)
    after = running_stats(model, "layer1")
    for k in before:
        assert not np.array_equal(before[k], after[k]), k
    bn = model.layer1[0].bn1
    assert not bn.frozen_stats
    assert not bn.weight.requires_grad and bn.weight.grad is None and bn.bias.grad is None
    assert model.layer1[0].conv1.weight.grad is None


def test_bn_affine_fixes_the_stats_and_trains_only_gamma_and_beta():
    model = small_resnet()
    frozen = freeze(model, upto="layer1", bn="affine")
    assert not any(".bn" in n or n.startswith("bn1") for n in frozen)
    before = running_stats(model, "layer1")
    forward_train(model)
    for k, v in running_stats(model, "layer1").items():
        np.testing.assert_array_equal(before[k], v, err_msg=k)
    block = model.layer1[0]
    assert block.bn1.frozen_stats and block.bn1.weight.requires_grad
    assert block.bn1.weight.grad is not None and block.bn2.bias.grad is not None
    assert block.conv1.weight.grad is None and not block.conv1.weight.requires_grad


def test_unfreeze_lets_batchnorm_statistics_update_again():
    model = small_resnet()
    freeze(model, bn="freeze")
    unfreeze(model)
    before = running_stats(model, "bn1")
    forward_train(model)
    assert not np.array_equal(before["bn1.running_mean"], model.bn1.running_mean)


# ----- heads and loading ---------------------------------------------------------------------------
def test_replace_head_gives_a_fresh_trainable_head_of_the_new_size():
    model = small_resnet()
    freeze(model)
    old = model.linear
    head = replace_head(model, 5)
    assert model.linear is head and head is not old
    assert (head.in_features, head.out_features) == (64, 5)
    assert head.weight.requires_grad and head.bias.requires_grad
    x, _ = batch()
    assert model(x).shape == (8, 5)
    assert trainable_names(model) == {"linear.weight", "linear.bias"}


def test_replace_head_finds_fc_and_the_last_linear_of_a_classifier():
    class WithFc(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(4, 6)
            self.fc = nn.Linear(6, 3)

    class WithClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.classifier = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3), nn.Dropout(0.5))

    fc = replace_head(WithFc(), 7)
    assert (fc.in_features, fc.out_features) == (6, 7)
    net = WithClassifier()
    head = replace_head(net, 2, attr="classifier")
    assert net.classifier[2] is head and head.in_features == 6 and net.classifier[0].out_features == 6
    with pytest.raises(KeyError, match="no head named 'head'.*body"):
        replace_head(WithFc(), 2, attr="head")


def test_loading_the_old_checkpoint_into_a_new_head_needs_strict_false():
    source = small_resnet(seed=1)
    checkpoint = source.state_dict()
    model = small_resnet(seed=2)
    replace_head(model, 5)
    with pytest.raises(KeyError, match=r"linear\.weight: expected \(5, 64\), got \(10, 64\)"):
        model.load_state_dict(checkpoint)
    body = {k: v for k, v in checkpoint.items() if not k.startswith("linear.")}
    with pytest.raises(KeyError, match=r"missing key: linear\.weight"):
        model.load_state_dict(body)                       # strict by default
    head_before = model.linear.weight.numpy().copy()
    missing, unexpected = model.load_state_dict(body, strict=False)
    assert missing == ["linear.weight", "linear.bias"] and unexpected == []
    np.testing.assert_array_equal(model.layer2[0].conv1.weight.numpy(), checkpoint["layer2.0.conv1.weight"])
    np.testing.assert_array_equal(model.bn1.running_var, checkpoint["bn1.running_var"])
    np.testing.assert_array_equal(model.linear.weight.numpy(), head_before)


# ----- summary --------------------------------------------------------------------------------------
def test_trainable_summary_counts_and_states():
    model = small_resnet()
    freeze(model, upto="layer1")
    freeze(model, names="layer2", bn="affine")
    text = trainable_summary(model)
    lines = {line.split()[0]: line for line in text.splitlines()[2:-2]}
    assert "frozen" in lines["conv1"] and "stats fixed" in lines["bn1"]
    assert "trainable" in lines["layer2.0.bn1"] and "stats fixed" in lines["layer2.0.bn1"]
    assert lines["layer3.0.bn1"].endswith("trainable, stats update")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    assert text.splitlines()[-1].startswith(f"trainable parameters: {trainable:,} of {total:,}")
    by_stage = trainable_summary(model, by="stage")
    rows = {line.split()[0]: line for line in by_stage.splitlines()[2:-2]}
    assert set(rows) == set(STAGES)
    assert "partly" in rows["layer2"] and "frozen" in rows["layer1"]
    layer2_trainable = sum(p.numel() for n, p in model.named_parameters() if n.startswith("layer2") and p.requires_grad)
    assert f" {layer2_trainable:,} " in rows["layer2"]
