"""Every Function of minidl.functional, gradchecked on a fixed case: no sampling, so CI's
derandomised run checks each backward (the mutation audit found Softmax, Clip, AsType and
ToDevice, drawn by no sampled test, unchecked), and a test that no Function is left out."""
import numpy as np
import pytest

from minidl import Tensor, gradcheck, kernels
from minidl import functional as F
from minidl.exercises.mutants import targets
from minidl.functional import basic

TOL = dict(atol=1e-6, rtol=1e-4)


def distinct(*shape, seed=0):
    """Values 0.1 apart around 0, none within 0.02 of a multiple of 0.1: no ties, no kinks at 0
    or at a clip bound."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) - (n - 1) / 2 + 0.25).reshape(shape) * 0.1


def positive(*shape, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape)


CASES = {    # name: (function of tensors, input arrays)
    "add (broadcast)": (F.add, [distinct(3, 4), distinct(4, seed=1)]),
    "sub (broadcast)": (F.sub, [distinct(3, 4), distinct(3, 1, seed=1)]),
    "mul": (F.mul, [distinct(3, 4), distinct(3, 4, seed=1)]),
    "div": (F.div, [distinct(3, 4), positive(3, 4)]),
    "neg": (F.neg, [distinct(2, 3)]),
    "pow": (lambda a: F.pow(a, 3), [distinct(2, 3)]),
    "exp": (F.exp, [distinct(2, 3)]),
    "log": (F.log, [positive(2, 3)]),
    "sqrt": (F.sqrt, [positive(2, 3)]),
    "abs": (F.abs, [distinct(2, 3)]),
    "maximum": (F.maximum, [distinct(3, 4), distinct(3, 4, seed=1) + 0.05]),
    "clip": (lambda a: F.clip(a, -0.3, 0.2), [distinct(3, 4)]),
    "reshape": (lambda a: F.reshape(a, (4, 3)), [distinct(3, 4)]),
    "permute": (lambda a: F.permute(a, (2, 0, 1)), [distinct(2, 3, 4)]),
    "getitem": (lambda a: a[1:, ::2], [distinct(3, 4)]),
    "getitem (repeated index)": (lambda a: a[[0, 2, 0]], [distinct(3, 4)]),
    "concatenate": (lambda a, b: F.concatenate([a, b], axis=1), [distinct(2, 3), distinct(2, 2, seed=1)]),
    "stack": (lambda a, b: F.stack([a, b], axis=0), [distinct(2, 3), distinct(2, 3, seed=1)]),
    "pad": (lambda a: F.pad(a, ((1, 0), (0, 2))), [distinct(2, 3)]),
    "matmul (batched)": (F.matmul, [distinct(2, 3, 4), distinct(4, 5, seed=1)]),
    "astype": (lambda a: basic.AsType.apply(a, dtype=np.dtype(np.float64)), [distinct(2, 3)]),
    "to_device": (lambda a: basic.ToDevice.apply(a, device="cpu"), [distinct(2, 3)]),
    "sum": (lambda a: F.sum(a, axis=1), [distinct(3, 4)]),
    "mean": (lambda a: F.mean(a, axis=0, keepdims=True), [distinct(3, 4)]),
    "max": (lambda a: F.max(a, axis=1), [distinct(3, 4)]),
    "var": (lambda a: F.var(a, axis=0), [distinct(3, 4)]),
    "relu": (F.relu, [distinct(3, 4)]),
    "add_relu (broadcast)": (F.add_relu, [distinct(3, 4), distinct(4, seed=1)]),
    "leaky_relu": (lambda a: F.leaky_relu(a, 0.1), [distinct(3, 4)]),
    "sigmoid": (F.sigmoid, [distinct(3, 4) * 3]),
    "tanh": (F.tanh, [distinct(3, 4) * 3]),
    "softmax": (F.softmax, [distinct(3, 4) * 3]),
    "softmax (axis 0)": (lambda a: F.softmax(a, axis=0), [distinct(3, 4) * 3]),
    "log_softmax": (F.log_softmax, [distinct(3, 4) * 3]),
    "cross_entropy": (lambda z: F.cross_entropy(z, np.array([0, 3, 1])), [distinct(3, 4)]),
    "bce_with_logits": (lambda z: F.binary_cross_entropy_with_logits(z, Tensor(positive(3, 4) / 2)),
                        [distinct(3, 4)]),
    "dropout": (lambda a: F.dropout(a, 0.5, generator=np.random.default_rng(0)), [distinct(4, 5)]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
               [distinct(2, 2, 5, 6), distinct(3, 2, 2, 2, seed=1), distinct(3, seed=2)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, (2, 3), (1, 2), (1, 1)), [distinct(2, 2, 4, 5)]),
    "max_pool2d (dilated)": (lambda x: F.max_pool2d(x, 2, (1, 2), dilation=(2, 1)), [distinct(1, 2, 5, 6)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, (2, 3), (1, 2), (1, 1)), [distinct(2, 2, 4, 5)]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [distinct(2, 2, 5, 4)]),
    "batch_norm (training)": (lambda x, g, b: F.batch_norm(x, np.zeros(3), np.ones(3), g, b, training=True),
                              [distinct(4, 3, 2, 2), positive(3), distinct(3, seed=1)]),
    "batch_norm (evaluation)": (lambda x, g, b: F.batch_norm(x, distinct(3), positive(3, seed=1), g, b),
                                [distinct(4, 3), positive(3), distinct(3, seed=1)]),
    "batch_norm (training, relu)": (lambda x, g, b: F.batch_norm(x, np.zeros(3), np.ones(3), g, b, training=True,
                                                                 relu=True),
                                    [distinct(4, 3, 2, 2), positive(3), distinct(3, seed=1)]),
    "batch_norm (evaluation, relu)": (lambda x, g, b: F.batch_norm(x, distinct(3), positive(3, seed=1), g, b,
                                                                   relu=True),
                                      [distinct(4, 3), positive(3), distinct(3, seed=1)]),
}


@pytest.mark.parametrize("version", ["reference", "fast"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_backward_agrees_with_central_differences(name, version):
    """With the plain NumPy kernels forced (the code the lecture shows) and with the fast ones."""
    fn, arrays = CASES[name]
    with kernels.use_reference(version == "reference"):
        gradcheck(fn, [Tensor(a, requires_grad=True) for a in arrays], **TOL)


def functions_in_graph(out) -> set:
    seen, stack = set(), [out]
    while stack:
        t = stack.pop()
        if t is not None and t._ctx is not None and id(t) not in seen:
            seen.add(id(t))
            yield type(t._ctx)
            stack.extend(t._ctx.inputs)


def test_no_function_of_minidl_functional_is_left_out():
    used = set()
    for fn, arrays in CASES.values():
        used |= set(functions_in_graph(fn(*[Tensor(a, requires_grad=True) for a in arrays])))
    functions = {t for name, t in targets().items() if not name.startswith("op:")}
    missing = sorted(f"{t.__module__}.{t.__name__}" for t in functions - used)
    assert not missing, f"Functions with no case in CASES (add one): {missing}"
