"""BatchNorm's momentum=None (cumulative average) and track_running_stats=False, as in PyTorch.

momentum=None: after t training batches the running mean is the plain average of the t batch
means (and the running variance of the t unbiased batch variances), since
running_t = running_{t-1} + (batch_t - running_{t-1}) / t. track_running_stats=False keeps no
statistics and normalises by the batch's own in evaluation too. Gradients: float64 central
differences (gradcheck, atol 1e-6, rtol 1e-4).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl import Tensor, gradcheck, nn

TOL = dict(atol=1e-6, rtol=1e-4)


@settings(max_examples=15, deadline=None)
@given(batches=st.integers(1, 5), n=st.integers(2, 4), c=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_momentum_none_is_the_cumulative_average(batches, n, c, seed):
    rng = np.random.default_rng(seed)
    bn = nn.BatchNorm2d(c, momentum=None)
    xs = [rng.normal(loc=rng.normal(), size=(n, c, 2, 3)).astype(np.float32) for _ in range(batches)]
    for x in xs:
        bn(Tensor(x))
    means = [x.mean(axis=(0, 2, 3)) for x in xs]
    variances = [x.var(axis=(0, 2, 3), ddof=1) for x in xs]
    np.testing.assert_allclose(bn.running_mean, np.mean(means, axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var, np.mean(variances, axis=0), rtol=1e-5, atol=1e-6)
    assert bn.num_batches_tracked == batches
    bn.eval()
    bn(Tensor(xs[0]))                                  # evaluation counts nothing
    assert bn.num_batches_tracked == batches


def test_a_number_momentum_is_unchanged():
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    bn = nn.BatchNorm1d(3, momentum=0.25)
    bn(Tensor(x))
    np.testing.assert_allclose(bn.running_mean, 0.25 * x.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(bn.running_var, 0.75 + 0.25 * x.var(axis=0, ddof=1), rtol=1e-6)


def test_without_running_stats_evaluation_uses_the_batch():
    rng = np.random.default_rng(1)
    bn = nn.BatchNorm2d(2, track_running_stats=False)
    assert bn.running_mean is None and bn.running_var is None
    assert not any("running" in k for k in bn.state_dict())
    x = rng.normal(size=(3, 2, 2, 2))
    train_out = bn(Tensor(x.astype(np.float32))).data
    bn.eval()
    eval_out = bn(Tensor(x.astype(np.float32))).data
    xhat = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(eval_out, xhat, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(eval_out, train_out)
    assert "track_running_stats=False" in repr(bn)


def test_without_running_stats_the_gradient_flows_through_the_batch_statistics():
    rng = np.random.default_rng(2)
    bn = nn.BatchNorm1d(3, track_running_stats=False)
    bn.weight.data, bn.bias.data = rng.normal(size=3), rng.normal(size=3)
    bn.eval()
    x = Tensor(rng.normal(size=(5, 3)), requires_grad=True)
    gradcheck(lambda x: bn(x), [x], **TOL)
    with pytest.raises(ValueError, match="more than one value per channel"):
        bn(Tensor(np.zeros((1, 3))))


@pytest.mark.parametrize("buffer, value", [("running_var", -0.5), ("running_var", np.nan),
                                           ("running_mean", np.inf)])
def test_evaluation_refuses_damaged_running_statistics_naming_the_layer(buffer, value):
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3))
    x = Tensor(np.random.default_rng(0).normal(size=(2, 1, 5, 5)).astype(np.float32))
    getattr(model[1], buffer)[2] = value
    model[1].momentum = 0.0                            # keep the damage through a training batch
    assert np.isfinite(model(x).data).all()          # training normalises by the batch's own
    model.eval()
    with pytest.raises(ValueError, match=rf"^1 \(BatchNorm2d\): expected {buffer} .* got {value} in channel 2"):
        model(x)
