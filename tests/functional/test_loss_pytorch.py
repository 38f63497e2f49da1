"""cross_entropy and nll_loss with PyTorch's reduction, weight, ignore_index and label_smoothing.

Three yardsticks: a per-element loop over PyTorch's documented formula, values and gradients that
PyTorch 2.13 computed once (fixtures/loss_cases.npz, made by fixtures/make_loss_fixtures.py), and
float64 central differences (gradcheck, atol 1e-6, rtol 1e-4) on shapes hypothesis draws.
"""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl import ShapeError, Tensor, gradcheck, nn
from minidl import functional as F

TOL = dict(atol=1e-6, rtol=1e-4)
CASES = np.load(Path(__file__).with_name("fixtures") / "loss_cases.npz")


def loop_cross_entropy(z, t, weight, ignore_index, reduction, eps):
    """PyTorch's definition, one element at a time: for scores z (N, C, d...) and labels t,
    l = -(1 - eps) w_y log p_y - eps / C sum_c w_c log p_c (0 when y == ignore_index);
    'mean' divides the sum by the sum of w_y over the elements not ignored."""
    c = z.shape[1]
    w = np.ones(c) if weight is None else weight
    zc = np.moveaxis(z, 1, -1).reshape(-1, c)
    losses, total_weight = [], 0.0
    for row, y in zip(zc, t.reshape(-1)):
        if y == ignore_index:
            losses.append(0.0)
            continue
        log_p = row - row.max() - np.log(np.exp(row - row.max()).sum())
        losses.append(-(1 - eps) * w[y] * log_p[y] - eps / c * (w * log_p).sum())
        total_weight += w[y]
    losses = np.array(losses).reshape(t.shape)
    if reduction == "none":
        return losses
    return losses.sum() / total_weight if reduction == "mean" else losses.sum()


def fixture(name):
    ignore, eps = CASES[f"{name}/options"]
    weight = CASES[f"{name}/weight"] if f"{name}/weight" in CASES else None
    return CASES[f"{name}/logits"], CASES[f"{name}/target"], weight, int(ignore), float(eps)


NAMES = sorted({k.split("/")[0] for k in CASES.files})


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", NAMES)
def test_cross_entropy_matches_pytorch_recorded(name, reduction):
    logits, target, weight, ignore, eps = fixture(name)
    key = f"{name}/cross_entropy/{reduction}"
    z = Tensor(logits, requires_grad=True)
    loss = F.cross_entropy(z, target, weight=weight, ignore_index=ignore, reduction=reduction,
                           label_smoothing=eps)
    assert loss.shape == CASES[key + "/loss"].shape
    np.testing.assert_allclose(loss.data, CASES[key + "/loss"], rtol=1e-10, atol=1e-12)
    (loss * Tensor(CASES[key + "/cotangent"])).sum().backward()
    np.testing.assert_allclose(z.grad, CASES[key + "/grad"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", [n for n in NAMES if f"{n}/nll_loss/mean/loss" in CASES])
def test_nll_loss_matches_pytorch_recorded(name, reduction):
    logits, target, weight, ignore, _ = fixture(name)
    key = f"{name}/nll_loss/{reduction}"
    z = Tensor(logits, requires_grad=True)
    loss = F.nll_loss(F.log_softmax(z, dim=1), target, weight=weight, ignore_index=ignore,
                      reduction=reduction)
    np.testing.assert_allclose(loss.data, CASES[key + "/loss"], rtol=1e-10, atol=1e-12)
    (loss * Tensor(CASES[key + "/cotangent"])).sum().backward()
    np.testing.assert_allclose(z.grad, CASES[key + "/grad"], rtol=1e-9, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 3), c=st.integers(2, 5),
       spatial=st.lists(st.integers(1, 3), max_size=2).map(tuple),
       reduction=st.sampled_from(["mean", "sum", "none"]), weighted=st.booleans(),
       eps=st.sampled_from([0.0, 0.1, 0.5]), ignore=st.booleans())
def test_cross_entropy_against_the_loop_and_central_differences(seed, n, c, spatial, reduction,
                                                               weighted, eps, ignore):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, c) + spatial) * 2
    t = rng.integers(0, c, (n,) + spatial)
    if ignore:
        t.reshape(-1)[0] = -100                 # one element ignored, at least one kept below
        t.reshape(-1)[-1] = c - 1 if t.size > 1 else -100
    if reduction == "mean" and (t == -100).all():
        t.reshape(-1)[0] = 0
    weight = rng.uniform(0.5, 2.0, c) if weighted else None
    kwargs = dict(weight=weight, reduction=reduction, label_smoothing=eps)
    got = F.cross_entropy(Tensor(z), t, **kwargs)
    np.testing.assert_allclose(got.data, loop_cross_entropy(z, t, weight, -100, reduction, eps),
                               rtol=1e-10, atol=1e-12)
    gradcheck(lambda x: F.cross_entropy(x, t, **kwargs), [Tensor(z, requires_grad=True)], **TOL)


def test_per_pixel_losses_have_the_target_shape_and_average_to_the_mean():
    rng = np.random.default_rng(0)
    z, t = Tensor(rng.normal(size=(2, 3, 4, 5))), rng.integers(0, 3, (2, 4, 5))
    per_pixel = F.cross_entropy(z, t, reduction="none")
    assert per_pixel.shape == (2, 4, 5)
    assert per_pixel.data.mean() == pytest.approx(F.cross_entropy(z, t).item(), rel=1e-6)
    assert per_pixel.data.sum() == pytest.approx(F.cross_entropy(z, t, reduction="sum").item(), rel=1e-6)


def test_label_smoothing_exact_formula_on_one_row():
    """z = (0, ln 2, ln 5): p = (1/8, 2/8, 5/8); with eps = 0.3 and label 2,
    loss = -(0.7 + 0.1) ln(5/8) - 0.1 ln(1/8) - 0.1 ln(2/8)."""
    z = Tensor(np.log([[1.0, 2.0, 5.0]]))
    expected = -0.8 * np.log(5 / 8) - 0.1 * np.log(1 / 8) - 0.1 * np.log(2 / 8)
    assert F.cross_entropy(z, np.array([2]), label_smoothing=0.3).item() == pytest.approx(expected, rel=1e-12)


def test_ignored_labels_may_lie_outside_the_classes_and_count_for_nothing():
    z = Tensor(np.random.default_rng(1).normal(size=(4, 3)))
    t = np.array([0, 255, 2, 255])
    assert F.cross_entropy(z, t, ignore_index=255).item() == pytest.approx(
        F.cross_entropy(Tensor(z.data[[0, 2]]), t[[0, 2]]).item(), rel=1e-12)
    assert F.cross_entropy(z, t, ignore_index=255, reduction="none").data[[1, 3]].tolist() == [0, 0]
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\) \(or ignore_index=-100\)"):
        F.cross_entropy(z, t)


def test_bad_arguments_are_named():
    z = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(z, np.array([0, 1]), reduction="average")
    with pytest.raises(ShapeError, match=r"weight of shape \(3,\)"):
        F.cross_entropy(z, np.array([0, 1]), weight=np.ones(2))
    with pytest.raises(ValueError, match="label_smoothing must lie in"):
        F.cross_entropy(z, np.array([0, 1]), label_smoothing=1.5)
    with pytest.raises(ShapeError, match=r"target of shape \(2,\)"):
        F.cross_entropy(z, np.array([0, 1, 2]))


def test_cross_entropy_loss_module_passes_every_argument():
    rng = np.random.default_rng(3)
    z, t, w = Tensor(rng.normal(size=(5, 4))), np.array([0, 3, 1, 1, 2]), rng.uniform(0.5, 2, 4)
    module = nn.CrossEntropyLoss(weight=w, ignore_index=1, reduction="sum", label_smoothing=0.2)
    np.testing.assert_allclose(module(z, t).data, F.cross_entropy(
        z, t, weight=w, ignore_index=1, reduction="sum", label_smoothing=0.2).data)
    assert "reduction='sum'" in repr(module) and "label_smoothing=0.2" in repr(module)
