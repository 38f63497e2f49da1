"""The autograd engine: accumulation, broadcasting, graph freeing, no_grad, depth, dtypes."""
import numpy as np
import pytest

import minidl
from minidl import Tensor, no_grad


def test_default_dtype_is_float32_and_float64_is_kept():
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(np.zeros(3)).dtype == np.float64
    assert Tensor([1, 2]).dtype == np.int64
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert (x * 2).dtype == np.float32          # a Python number does not promote


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="float32 or float64"):
        Tensor([1, 2], requires_grad=True)


def test_gradient_of_a_shared_input_accumulates_over_its_uses():
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    y = x * x + 3 * x                            # dy/dx = 2x + 3
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 3)


def test_grads_accumulate_across_backward_calls_until_zeroed():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [6.0, 6.0])
    x.zero_grad()
    assert x.grad is None


def test_broadcasting_is_undone_in_backward():
    a = Tensor(np.ones((4, 3)), requires_grad=True)
    b = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    c = Tensor(np.ones((4, 1)), requires_grad=True)
    ((a * b) + c).sum().backward()
    assert b.grad.shape == (3,) and c.grad.shape == (4, 1)
    np.testing.assert_allclose(b.grad, [4.0, 4.0, 4.0])      # summed over the 4 broadcast rows
    np.testing.assert_allclose(c.grad, np.full((4, 1), 3.0))  # summed over the 3 broadcast columns
    np.testing.assert_allclose(a.grad, np.broadcast_to(b.data, (4, 3)))


def test_no_grad_records_nothing_and_detach_cuts_the_graph():
    x = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf
    z = (x * 2).detach() * x
    z.sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0, 2.0])      # only the un-detached path counts


def test_graph_is_freed_after_backward_unless_retained():
    x = Tensor(np.ones(2), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()                                 # second pass works: the graph was kept
    np.testing.assert_allclose(x.grad, [4.0, 4.0])
    assert y.grad_fn is None and not y.is_leaf   # ... and is gone now
    x.grad = None
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*retain_graph=True"):
        y.backward()                             # PyTorch's error, not a silent no-op
    assert x.grad is None


def test_a_very_deep_graph_does_not_hit_the_recursion_limit():
    x = Tensor(np.array([0.5]), requires_grad=True)
    y = x
    for _ in range(5000):                        # far deeper than Python's recursion limit
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad, [1.0001 ** 5000], rtol=1e-10)


def test_backward_needs_a_scalar_or_an_explicit_gradient():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="single number"):
        (x * 2).backward()
    with pytest.raises(minidl.ShapeError, match="grad of shape"):
        (x * 2).backward(np.ones(4))
    (x * 2).backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_allclose(x.grad, [2.0, 0.0, -2.0])


def test_backward_on_a_constant_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(np.ones(1)).backward()


def test_frozen_inputs_get_no_gradient_and_none_is_computed_for_them():
    """The backward pass asks each op only for the gradients someone will use."""
    from minidl.functional.basic import MatMul
    calls = []
    original = MatMul.backward

    def spy(self, g):
        calls.append(self.needs_input_grad)
        return original(self, g)

    x = Tensor(np.ones((2, 3)))                          # data: no gradient wanted
    w = Tensor(np.ones((3, 4)), requires_grad=True)
    MatMul.backward = spy
    try:
        (x @ w).sum().backward()
    finally:
        MatMul.backward = original
    assert calls == [(False, True)]
    assert x.grad is None and w.grad.shape == (3, 4)


def test_retain_grad_keeps_an_intermediate_gradient():
    x = Tensor(np.array([2.0]), requires_grad=True)
    h = (x * 3).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, [12.0])   # d(h^2)/dh = 2h = 12
    np.testing.assert_allclose(x.grad, [36.0])


def test_float32_gradients_stay_float32_when_mixed_with_float64_constants():
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    (x * np.ones(3)).sum().backward()
    assert x.grad.dtype == np.float32


def test_to_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown device"):
        Tensor(np.ones(2)).to("tpu")
