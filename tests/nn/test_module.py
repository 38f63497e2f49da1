"""Module bookkeeping: registration, modes, state_dict strictness, errors that name the layer."""
import os

import numpy as np
import pytest

import minidl
from minidl import Tensor, nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Flatten())
        self.classifier = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.classifier(self.features(x))


def test_parameters_and_buffers_are_registered_by_name():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                     "classifier.weight", "classifier.bias"]
    assert [n for n, _ in net.named_buffers()] == ["features.1.running_mean", "features.1.running_var"]
    assert net.num_parameters() == (4 * 9 + 4) + (4 + 4) + (64 * 3 + 3)
    assert [n for n, _ in net.named_modules()][:3] == ["", "features", "features.0"]


def test_train_and_eval_switch_every_submodule():
    net = Net().eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_state_dict_round_trip_and_strict_errors():
    a, b = Net(), Net()
    x = Tensor(np.random.default_rng(0).normal(size=(2, 1, 8, 8)).astype(np.float32))
    a(x)                                         # training step moves BN's running stats
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).data, b(x).data)

    state = a.state_dict()
    del state["classifier.bias"]
    state["extra.weight"] = np.zeros(1)
    state["features.0.weight"] = np.zeros((5, 1, 3, 3))
    with pytest.raises(KeyError) as err:
        b.load_state_dict(state)
    message = str(err.value)
    assert "missing key: classifier.bias" in message
    assert "unexpected key: extra.weight" in message
    assert "features.0.weight: expected (4, 1, 3, 3), got (5, 1, 3, 3)" in message


def test_load_state_dict_copies_in_place_so_optimizers_keep_their_parameters():
    net = Net()
    w = net.classifier.weight
    state = net.state_dict()
    state["classifier.weight"] = np.ones_like(state["classifier.weight"])
    net.load_state_dict(state)
    assert net.classifier.weight is w and np.all(w.data == 1)


def test_shape_error_names_the_layer_path_and_both_shapes():
    net = Net()
    with pytest.raises(minidl.ShapeError) as err:
        net(Tensor(np.zeros((2, 1, 10, 10), np.float32)))
    assert str(err.value) == "classifier (Linear): expected input (N, 64), got (2, 100)"
    with pytest.raises(minidl.ShapeError, match=r"features.0 \(Conv2d\): expected input \(N, 1, H, W\), got \(2, 3, 8, 8\)"):
        net(Tensor(np.zeros((2, 3, 8, 8), np.float32)))


def test_dtype_mismatch_is_reported_by_the_layer():
    with pytest.raises(minidl.ShapeError, match=r"features.0 \(Conv2d\): expected input of dtype float32.*uint8"):
        Net()(Tensor(np.zeros((1, 1, 8, 8), np.uint8)))


def test_summary_lists_output_shapes_and_parameter_counts():
    text = Net().summary((1, 1, 8, 8))
    assert "features.3  MaxPool2d    (1, 4, 4, 4)" in text
    assert "classifier  Linear       (1, 3)" in text
    assert "total parameters: 243 (trainable 243)" in text


def test_a_failed_summary_leaves_the_model_as_it_was():
    net = Net()
    with pytest.raises(minidl.ShapeError, match=r"classifier \(Linear\): expected input \(N, 64\)"):
        net.summary((1, 1, 10, 10))
    assert all(m.training for m in net.modules())
    assert not any(m._forward_hooks for m in net.modules())      # its recording hooks are gone


def test_repr_shows_the_tree():
    text = repr(Net())
    assert "(features): Sequential(" in text and "(0): Conv2d(1, 4, kernel_size=(3, 3)" in text


def test_frozen_parameters_get_no_gradient():
    net = Net()
    net.features.requires_grad_(False)
    x = Tensor(np.ones((2, 1, 8, 8), np.float32))
    minidl.functional.cross_entropy(net(x), np.array([0, 1])).backward()
    assert all(p.grad is None for p in net.features.parameters())
    assert net.classifier.weight.grad is not None


def test_batchnorm_frozen_stats_stay_fixed_in_training_mode():
    bn = nn.BatchNorm2d(2)
    bn.frozen_stats = True
    bn.train()
    bn(Tensor(np.random.default_rng(0).normal(size=(4, 2, 3, 3)).astype(np.float32)))
    np.testing.assert_array_equal(bn.running_mean, 0)
    np.testing.assert_array_equal(bn.running_var, 1)


def test_save_and_load_npz(tmp_path):
    net = Net()
    path = minidl.save(net.state_dict(), tmp_path / "w.npz")
    loaded = minidl.load(path)
    assert list(loaded) == list(net.state_dict())
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(loaded[k], v)
    assert not list(tmp_path.glob("*.part"))
    umask = os.umask(0o022)
    try:                             # the file gets the mode open() would give it, not 0600
        assert minidl.save(net.state_dict(), tmp_path / "w2.npz").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(umask)


def test_load_refuses_pickled_objects_and_garbage(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="plain arrays"):
        minidl.load(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError):
        minidl.load(junk)
    with pytest.raises(FileNotFoundError):
        minidl.load(tmp_path / "missing.npz")


def test_a_nested_checkpoint_round_trips_and_resumes_training_exactly(tmp_path):
    """model + Adam state + numbers through minidl.save/load: a resumed run takes the very same
    next step as the uninterrupted one (bit for bit)."""
    from minidl import optim
    from minidl import functional as F

    def step(net, opt, k):
        x = Tensor(np.random.default_rng(k).normal(size=(4, 3)).astype(np.float32))
        opt.zero_grad()
        F.mse_loss(net(x), Tensor(np.zeros((4, 2), np.float32))).backward()
        opt.step()

    minidl.manual_seed(0)
    net = nn.Linear(3, 2)
    opt = optim.Adam([{"params": [net.weight], "lr": 1e-2}, {"params": [net.bias], "lr": 1e-3}],
                     betas=(0.8, 0.9))
    for k in range(3):
        step(net, opt, k)
    path = minidl.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
                        "note": "after 3 steps", "best": None}, tmp_path / "ckpt.npz")
    ckpt = minidl.load(path)
    assert ckpt["epoch"] == 3 and ckpt["note"] == "after 3 steps" and ckpt["best"] is None
    assert ckpt["optimizer"]["param_groups"][0]["betas"] == (0.8, 0.9)
    assert list(ckpt["optimizer"]["state"]) == [0, 1]                  # int keys stay ints
    resumed = nn.Linear(3, 2)
    resumed.load_state_dict(ckpt["model"])
    opt2 = optim.Adam([{"params": [resumed.weight], "lr": 0.5}, {"params": [resumed.bias], "lr": 0.5}])
    opt2.load_state_dict(ckpt["optimizer"])
    step(net, opt, 3)
    step(resumed, opt2, 3)
    np.testing.assert_array_equal(resumed.weight.data, net.weight.data)
    np.testing.assert_array_equal(resumed.bias.data, net.bias.data)
    with np.load(path, allow_pickle=False) as archive:    # plain arrays and one JSON string
        assert all(archive[name].dtype != object for name in archive.files)


def test_save_refuses_what_it_cannot_store_and_load_a_damaged_outline(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store set at the top level\['a'\]"):
        minidl.save({"a": {1, 2}}, tmp_path / "x.npz")
    np.savez(tmp_path / "old.npz", __minidl_structure__=np.array('{"array": "missing"}'))
    with pytest.raises(ValueError, match="older minidl.save"):   # the pre-manifest format
        minidl.load(tmp_path / "old.npz")
