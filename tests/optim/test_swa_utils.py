"""Stochastic weight averaging: AveragedModel holds the running mean of the weights it is given,
update_bn sets the batch-norm statistics to the averages over the data."""
import numpy as np
import pytest

import minidl
from minidl import Tensor, nn
from minidl.optim.swa_utils import AveragedModel, get_ema_avg_fn, update_bn


def small_net(seed=0):
    minidl.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(3 * 4 * 4, 2))


def test_averaged_model_holds_the_mean_of_the_snapshots_and_leaves_the_model_alone():
    model = small_net()
    swa = AveragedModel(model)
    rng = np.random.default_rng(0)
    snapshots = []
    for _ in range(4):
        for p in model.parameters():
            p.data[...] = rng.standard_normal(p.shape).astype(p.data.dtype)
        snapshots.append([p.data.copy() for p in model.parameters()])
        swa.update_parameters(model)
    assert swa.n_averaged == 4
    for k, avg in enumerate(swa.module.parameters()):
        np.testing.assert_allclose(avg.data, np.mean([s[k] for s in snapshots], axis=0), rtol=1e-5, atol=1e-6)
    for p, last in zip(model.parameters(), snapshots[-1]):
        assert np.array_equal(p.data, last)                          # the model is not touched
    x = Tensor(rng.standard_normal((5, 2, 4, 4)).astype(np.float32))
    swa.eval()
    np.testing.assert_array_equal(swa(x).data, swa.module(x).data)


def test_an_exponential_moving_average_weighs_the_recent_snapshots_most():
    """After snapshots W0..W3 with decay d: d^3 W0 + (1 - d)(d^2 W1 + d W2 + W3), in float64."""
    model, d = small_net(), 0.75
    ema = AveragedModel(model, avg_fn=get_ema_avg_fn(d))
    rng = np.random.default_rng(1)
    snapshots = []
    for _ in range(4):
        for p in model.parameters():
            p.data[...] = rng.standard_normal(p.shape).astype(p.data.dtype)
        snapshots.append([p.data.astype(np.float64) for p in model.parameters()])
        ema.update_parameters(model)
    for k, avg in enumerate(ema.module.parameters()):
        want = d ** 3 * snapshots[0][k] + (1 - d) * (d ** 2 * snapshots[1][k] + d * snapshots[2][k] + snapshots[3][k])
        np.testing.assert_allclose(avg.data, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"get_ema_avg_fn: decay must lie in \[0, 1\], got 1.5"):
        get_ema_avg_fn(1.5)


def test_buffers_are_averaged_only_with_use_buffers():
    model = small_net()
    plain, with_buffers = AveragedModel(model), AveragedModel(model, use_buffers=True)
    bn = model[1]
    before = plain.module[1].running_mean.copy()
    for value in (1.0, 3.0):
        bn.running_mean[...] = value
        plain.update_parameters(model)
        with_buffers.update_parameters(model)
    np.testing.assert_array_equal(plain.module[1].running_mean, before)
    np.testing.assert_allclose(with_buffers.module[1].running_mean, 2.0)


def test_update_parameters_refuses_another_architecture():
    with pytest.raises(ValueError, match="AveragedModel.update_parameters: the model's parameters do not match"):
        AveragedModel(small_net()).update_parameters(nn.Sequential(nn.Linear(3, 2)))


def test_update_bn_sets_the_cumulative_averages_over_the_batches_and_restores_the_settings():
    """Batches of equal size: running mean = the mean of the batch means; running var = the mean
    of the batches' unbiased variances (what a cumulative average of PyTorch's updates gives).
    The layer's momentum and the model's eval mode come back; float64 data, rtol 1e-10."""
    minidl.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm2d(3)).double()
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((4, 3, 5, 5)) * (k + 1) + k for k in range(3)]
    bn = model[0]
    bn.running_mean[...] = 7.0
    model.eval()
    update_bn([(b, None) for b in batches], model)
    np.testing.assert_allclose(bn.running_mean, np.mean([b.mean(axis=(0, 2, 3)) for b in batches], axis=0),
                               rtol=1e-10)
    np.testing.assert_allclose(bn.running_var, np.mean([b.var(axis=(0, 2, 3), ddof=1) for b in batches], axis=0),
                               rtol=1e-10)
    assert bn.momentum == 0.1 and not model.training
