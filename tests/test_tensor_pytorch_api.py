"""Tensor's PyTorch conventions: elementwise ==/!=, identity hashing, grad_fn, the second-backward
error, the checks on a custom Function's gradients, and dim/keepdim on the reductions.

Reductions are held against NumPy's definitions (the same numbers, any shape); gradients against
float64 central differences (gradcheck: atol 1e-6, rtol 1e-4).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl import Function, ShapeError, Tensor, gradcheck, optim
from minidl import functional as F
from minidl.nn import Parameter

TOL = dict(atol=1e-6, rtol=1e-4)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


# ----- comparisons -------------------------------------------------------------------------------
def test_eq_and_ne_are_elementwise_boolean_tensors():
    t = Tensor([1, 2, 3])
    eq, ne = t == 2, t != 2
    assert isinstance(eq, Tensor) and eq.dtype == np.bool_ and not eq.requires_grad
    assert eq.tolist() == [False, True, False] and ne.tolist() == [True, False, True]
    assert (t == Tensor([1, 0, 3])).tolist() == [True, False, True]
    assert (t < 2).tolist() == [True, False, False]               # as the others already were


def test_truth_of_a_tensor_is_its_one_value_or_ambiguous():
    assert bool(Tensor([2.0]) == 2) and not bool(Tensor(3.0) == 2)
    with pytest.raises(RuntimeError, match=r"shape \(3,\) is ambiguous.*any\(\) or .all\(\)"):
        bool(Tensor([1, 2, 3]) == 2)
    assert (Tensor([1, 2]) == 2).any().item() and not (Tensor([1, 2]) == 2).all().item()


def test_tensors_hash_by_identity_so_equal_values_stay_apart_in_a_dict():
    a, b = Tensor(np.zeros(3)), Tensor(np.zeros(3))
    seen = {a: "a", b: "b"}
    assert seen[a] == "a" and seen[b] == "b" and len({a, b, a}) == 2


def test_optimizer_state_keeps_equal_valued_parameters_apart():
    """Two parameters with the same values but different gradients get their own Adam moments."""
    p, q = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    opt = optim.Adam([p, q], lr=0.1)
    p.grad, q.grad = np.array([1.0, 1.0]), np.array([-2.0, 0.0])
    opt.step()
    assert set(map(id, opt.state)) == {id(p), id(q)}
    np.testing.assert_allclose(opt.state[p]["exp_avg"], 0.1 * p.grad)      # (1 - beta1) g
    np.testing.assert_allclose(opt.state[q]["exp_avg"], 0.1 * q.grad)
    np.testing.assert_allclose(p.data, [-0.1, -0.1], rtol=1e-6)             # lr * sign on step 1
    np.testing.assert_allclose(q.data, [0.1, 0.0], atol=1e-7)


# ----- grad_fn and the graph -------------------------------------------------------------------
def test_grad_fn_names_the_op_and_its_inputs():
    x = Tensor([1.0, 2.0], requires_grad=True)
    w = Tensor([3.0, 4.0])
    y = x * w
    assert x.grad_fn is None and x.is_leaf
    assert y.grad_fn.name() == "Mul" and len(y.grad_fn.inputs) == 2
    assert y.grad_fn.inputs[0] is x and y.grad_fn.inputs[1] is w
    assert "grad_fn=<Mul>" in repr(y) and "requires_grad" not in repr(y)
    assert "requires_grad=True" in repr(x)
    assert repr(y.grad_fn) == "<Mul of inputs (2,), (2,)>"
    assert (y.sum()).grad_fn.name() == "Sum" and (x * w).detach().grad_fn is None


def test_second_backward_through_a_freed_graph_raises_and_retain_graph_keeps_it():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * x                                   # shared by two losses
    loss = h.sum()
    loss.backward(retain_graph=True)
    loss.backward()                             # kept: the gradients accumulate
    np.testing.assert_allclose(x.grad, 2 * 2 * x.data)
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        loss.backward()
    with pytest.raises(RuntimeError, match="second time"):
        (h * 3).sum().backward()                # h's op was freed by the first loss too
    np.testing.assert_allclose(x.grad, 4 * x.data)   # nothing was added by the failed passes


class Scale(Function):
    """y = a * b for same-shaped a, b; the bugs below are switched on by a class attribute."""
    bug = None

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        if self.bug == "too_few":
            return (g * self.b,)
        if self.bug == "too_many":
            return g * self.b, g * self.a, g
        if self.bug == "bad_shape":
            return np.ones((3, 5)), g * self.a
        return g * self.b, g * self.a


@pytest.mark.parametrize("bug, error, message", [
    ("too_few", RuntimeError, r"Scale.backward returned 1 gradient\(s\) for 2 input\(s\)"),
    ("too_many", RuntimeError, r"Scale.backward returned 3 gradient\(s\) for 2 input\(s\)"),
    ("bad_shape", ShapeError, r"Scale.backward: expected gradient 0 of input 0's shape \(2, 3\).*got \(3, 5\)"),
])
def test_a_custom_backward_with_wrong_gradients_is_named(monkeypatch, bug, error, message):
    monkeypatch.setattr(Scale, "bug", bug)
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.full((2, 3), 2.0), requires_grad=True)
    with pytest.raises(error, match=message):
        Scale.apply(a, b).sum().backward()


def test_a_correct_custom_function_passes_gradcheck_and_may_return_a_broadcast_gradient():
    a = Tensor(np.random.default_rng(0).normal(size=(2, 3)), requires_grad=True)
    b = Tensor(np.random.default_rng(1).normal(size=(2, 3)), requires_grad=True)
    gradcheck(lambda a, b: Scale.apply(a, b), [a, b], **TOL)

    class AddRow(Function):                     # its backward hands back the broadcast shape
        def forward(self, x, row):
            return x + row

        def backward(self, g):
            return g, g

    row = Tensor(np.zeros(3), requires_grad=True)
    AddRow.apply(a, row).sum().backward()
    np.testing.assert_allclose(row.grad, [2.0, 2.0, 2.0])   # summed back to (3,)


def test_a_lone_gradient_is_accepted_from_a_one_input_function():
    class Double(Function):
        def forward(self, x):
            return 2 * x

        def backward(self, g):
            return 2 * g                         # not wrapped in a tuple

    x = Tensor(np.ones((3, 2)), requires_grad=True)
    Double.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad, np.full((3, 2), 2.0))


# ----- reductions: dim / keepdim ----------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(shape=shapes, data=st.data(), keepdim=st.booleans(),
       op=st.sampled_from(["sum", "mean", "max", "min", "var", "std"]), spelling=st.sampled_from(["torch", "numpy"]))
def test_reductions_take_dim_and_keepdim_or_numpy_aliases(shape, data, keepdim, op, spelling):
    dim = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    if op in ("var", "std") and (np.prod(shape) if dim is None else shape[dim]) < 2:
        return                                             # n - 1 = 0: no sample variance
    x = np.random.default_rng(len(shape)).normal(size=shape)
    t = Tensor(x, requires_grad=True)
    if spelling == "torch":
        out = getattr(t, op)(dim=dim, keepdim=keepdim)
    else:
        out = getattr(t, op)(axis=dim, keepdims=keepdim)
    if op in ("max", "min") and dim is not None and spelling == "torch":
        out, idx = out                                     # PyTorch's (values, indices)
        arg = getattr(np, "arg" + op)(x, axis=dim)
        np.testing.assert_array_equal(idx.data, np.expand_dims(arg, dim) if keepdim else arg)
        assert idx.dtype == np.int64
    expected = getattr(np, op)(x, axis=dim, keepdims=keepdim, **({"ddof": 1} if op in ("var", "std") else {}))
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    if op not in ("max", "min"):                           # ties make max's gradient a choice
        gradcheck(lambda t: getattr(t, op)(dim=dim, keepdim=keepdim) if spelling == "torch" else
                  getattr(t, op)(axis=dim, keepdims=keepdim), [t], **TOL)


def test_max_values_carry_the_gradient_and_indices_do_not():
    x = Tensor(np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]]), requires_grad=True)
    values, indices = x.max(dim=1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0] and not indices.requires_grad
    values.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])
    assert F.max(x).item() == 7.0 and x.max(axis=0).tolist() == [7.0, 5.0, 3.0]
    assert x.argmax(dim=1).tolist() == [1, 0] and x.argmax().item() == 3
    assert x.argmax(dim=0, keepdim=True).shape == (1, 3)


def test_var_unbiased_and_correction_follow_pytorch():
    x = np.array([1.0, 2.0, 4.0, 7.0])
    t = Tensor(x)
    assert t.var().item() == pytest.approx(np.var(x, ddof=1))
    assert t.var(unbiased=False).item() == pytest.approx(np.var(x))
    assert t.var(0, False).item() == pytest.approx(np.var(x))          # torch.var(x, dim, unbiased)
    assert t.var(correction=0).item() == pytest.approx(np.var(x))
    with pytest.raises(TypeError, match="not both"):
        t.sum(dim=0, axis=0)


def test_cat_stack_squeeze_unsqueeze_take_dim():
    a, b = Tensor(np.ones((2, 3))), Tensor(np.zeros((2, 3)))
    assert F.cat([a, b], dim=1).shape == (2, 6) and F.cat([a, b], axis=0).shape == (4, 3)
    assert F.stack([a, b], dim=2).shape == (2, 3, 2)
    x = Tensor(np.ones((1, 3, 1)))
    assert x.squeeze().shape == (3,) and x.squeeze(0).shape == (3, 1) and x.squeeze(1).shape == (1, 3, 1)
    assert x.unsqueeze(0).shape == (1, 1, 3, 1) and x.unsqueeze(-1).shape == (1, 3, 1, 1)
    assert x.numel() == 3
    s = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_allclose(s.softmax(dim=0).data.sum(axis=0), [1.0, 1.0])
    np.testing.assert_allclose(F.softmax(s, dim=1).data, F.softmax(s, axis=1).data)


def test_size_is_the_shape_and_numel_the_count_as_in_pytorch():
    x = Tensor(np.zeros((4, 3, 2)))
    assert x.size() == (4, 3, 2) and x.size(0) == 4 and x.size(-1) == 2
    assert x.numel() == 24 and x.dim() == 3 == x.ndim
    with pytest.raises(IndexError):
        x.size(3)


@settings(max_examples=20, deadline=None)
@given(shape=shapes, lo=st.one_of(st.none(), st.floats(-1, 0)), hi=st.one_of(st.none(), st.floats(0.1, 1)))
def test_clamp_is_clip_with_pytorchs_names(shape, lo, hi):
    x = np.random.default_rng(len(shape)).normal(size=shape)
    x[np.isclose(x, lo or 0, atol=1e-3) | np.isclose(x, hi or 0, atol=1e-3)] += 0.01   # off the kinks
    t = Tensor(x, requires_grad=True)
    np.testing.assert_array_equal(t.clamp(min=lo, max=hi).data, np.clip(x, lo, hi))
    gradcheck(lambda t: t.clamp(min=lo, max=hi), [t], **TOL)
