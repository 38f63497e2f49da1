"""nn.conv_bn and F.conv2d_batch_norm: the same values as bn(conv(x)) in every mode; the one
fused op only where no graph, hook or recorder needs the two apart (float64, to 1e-12)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import Tensor, kernels, nn, no_grad
from minidl.tensor import recording_ops
from minidl import functional as F

FUSED = "conv2d_batch_norm_eval"


def layer_pair(c, f, stride, seed, eval_mode=True):
    minidl.manual_seed(seed)
    conv, bn = nn.Conv2d(c, f, 3, stride=stride, padding=1, bias=False).double(), nn.BatchNorm2d(f).double()
    rng = np.random.default_rng(seed)
    bn.running_mean[...] = rng.standard_normal(f)
    bn.running_var[...] = rng.uniform(0.3, 2, f)
    bn.weight.data[...], bn.bias.data[...] = rng.uniform(0.5, 2, f), rng.standard_normal(f)
    return conv.train(not eval_mode), bn.train(not eval_mode)


def calls(fn):
    """(fn's result, how many times the fused op ran in it)."""
    with kernels.timing() as seconds:
        out = fn()
    return out, seconds.calls.get(FUSED, 0)


@settings(max_examples=25, deadline=None)
@given(c=st.integers(1, 4), f=st.integers(1, 4), stride=st.integers(1, 2), relu=st.booleans(),
       residual=st.booleans(), seed=st.integers(0, 2**16), reference=st.booleans())
def test_in_evaluation_without_a_graph_one_op_gives_the_modules_values(c, f, stride, relu, residual,
                                                                      seed, reference):
    conv, bn = layer_pair(c, f, stride, seed)
    rng = np.random.default_rng(seed + 1)
    x = Tensor(rng.standard_normal((2, c, 7, 6)))
    r = Tensor(rng.standard_normal((2, f, (7 - 1) // stride + 1, (6 - 1) // stride + 1)))
    r = r if residual else None
    with no_grad(), kernels.use_reference(reference):
        fused, n = calls(lambda: nn.conv_bn(conv, bn, x, relu=relu, residual=r))
        apart = bn(conv(x))
        apart = apart if r is None else apart + r
        apart = F.relu(apart) if relu else apart
    assert n == 1 and not fused.requires_grad
    np.testing.assert_allclose(fused.data, apart.data, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("why", ["graph", "training", "hook", "bias", "recording"])
def test_the_two_modules_run_where_something_needs_them_apart(why):
    """With a graph the gradients are the two ops'; in training the batch statistics are used
    and the running ones move; a hook on bn still sees its output; a bias and an op recorder
    (minidl.onnx's trace) take the modules too."""
    conv, bn = layer_pair(3, 4, 1, 0, eval_mode=why != "training")
    if why == "bias":
        conv = nn.Conv2d(3, 4, 3, padding=1).double()
    seen = []
    if why == "hook":
        bn.register_forward_hook(lambda module, args, out: seen.append(out))
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((2, 3, 5, 5)), requires_grad=why == "graph")
    r = Tensor(rng.standard_normal((2, 4, 5, 5)), requires_grad=why == "graph")
    before = bn.running_mean.copy()
    if why == "recording":
        with no_grad(), recording_ops(lambda op, *rest: seen.append(op.__name__)):
            out, n = calls(lambda: nn.conv_bn(conv, bn, x, relu=True, residual=r))
        assert seen == ["Conv2d", "BatchNorm", "AddReLU"]
    else:
        with no_grad() if why != "graph" else minidl.enable_grad():
            out, n = calls(lambda: nn.conv_bn(conv, bn, x, relu=True, residual=r))
    assert n == 0
    if why == "graph":
        (out * out).sum().backward()
        grads = [x.grad, r.grad, conv.weight.grad, bn.weight.grad, bn.bias.grad]
        x2, r2 = Tensor(x.data, requires_grad=True), Tensor(r.data, requires_grad=True)
        for p in (conv.weight, bn.weight, bn.bias):
            p.grad = None
        y = F.relu(bn(conv(x2)) + r2)
        (y * y).sum().backward()
        for a, b in zip(grads, [x2.grad, r2.grad, conv.weight.grad, bn.weight.grad, bn.bias.grad]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    if why == "training":
        assert not np.array_equal(bn.running_mean, before)
    if why == "hook":
        assert len(seen) == 1                         # bn's own output, before the add and ReLU
        np.testing.assert_array_equal(F.relu(seen[0] + r).data, out.data)


def test_frozen_statistics_in_training_mode_take_the_fused_op():
    """A frozen, pretrained batch norm (transfer learning) uses its running statistics in training
    mode too: without a graph that is the fused op, and the statistics stay put."""
    conv, bn = layer_pair(2, 3, 1, 4, eval_mode=False)
    bn.frozen_stats = True
    before = bn.running_var.copy()
    x = Tensor(np.random.default_rng(5).standard_normal((2, 2, 6, 6)))
    with no_grad():
        out, n = calls(lambda: nn.conv_bn(conv, bn, x))
        expected = bn(conv(x))
    assert n == 1
    np.testing.assert_allclose(out.data, expected.data, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(bn.running_var, before)


def test_bad_input_and_damaged_statistics_get_the_usual_errors():
    conv, bn = layer_pair(3, 4, 1, 0)
    with no_grad():
        with pytest.raises(minidl.ShapeError, match=r"conv2d_batch_norm.*residual of the output's shape "
                                                    r"\(2, 4, 5, 5\), got \(2, 4, 4, 4\)"):
            nn.conv_bn(conv, bn, Tensor(np.zeros((2, 3, 5, 5))), residual=Tensor(np.zeros((2, 4, 4, 4))))
        with pytest.raises(minidl.ShapeError, match=r"Conv2d.*expected input \(N, 3, H, W\), got \(2, 2, 5, 5\)"):
            nn.conv_bn(conv, bn, Tensor(np.zeros((2, 2, 5, 5))))
        bn.running_var[1] = -1.0
        with pytest.raises(minidl.ShapeError, match=r"running_var of finite values >= 0.*-1.0 in channel 1"):
            nn.conv_bn(conv, bn, Tensor(np.zeros((2, 3, 5, 5))))
