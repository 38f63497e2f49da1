"""Module hooks: forward pre-hooks and forward hooks see (and may replace) a layer's inputs and
output; full backward hooks see dL/d(outputs) and dL/d(inputs), checked against the gradients
retain_grad() gives on the tensors around the layer, and may replace what reaches earlier layers."""
import numpy as np
import pytest

import minidl
from minidl import Tensor, nn, no_grad


def mlp():
    minidl.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()


def batch(requires_grad=False, seed=0):
    x = np.random.default_rng(seed).standard_normal((6, 4))
    return Tensor(x, requires_grad=requires_grad)


def weights():
    return np.random.default_rng(1).standard_normal((6, 3))


def loss_of(y):
    """A loss whose dL/dy is not uniform, so a wrong slot or a transposed gradient shows."""
    return (y * Tensor(weights())).sum()


def manual_linear(layer, x):
    return x @ layer.weight.data.T + layer.bias.data


class Scale(nn.Module):
    """(a, b, factor) -> (a * b * factor, a - b): two tensor inputs, a number, two outputs."""

    def forward(self, a, b, factor):
        return a * b * factor, a - b


# ----- forward hooks --------------------------------------------------------------------------
def test_a_forward_hook_sees_the_inputs_and_output_and_can_replace_the_output():
    model, x = mlp(), batch()
    seen = []
    handle = model[0].register_forward_hook(lambda m, inputs, out: seen.append((m, inputs, out)))
    y = model(x)
    (module, inputs, out), = seen
    assert module is model[0] and len(inputs) == 1 and inputs[0] is x
    np.testing.assert_allclose(out.numpy(), manual_linear(model[0], x.data))
    handle.remove()

    model[0].register_forward_hook(lambda m, inputs, out: out * 0)
    replaced = model(x).numpy()
    # the rest of the net now runs on zeros: tanh(0) = 0, so only the last bias remains
    np.testing.assert_allclose(replaced, np.broadcast_to(model[2].bias.data, (6, 3)))
    assert not np.allclose(y.numpy(), replaced)


def test_a_pre_hook_can_replace_the_inputs():
    model, x = mlp(), batch()
    model[2].register_forward_pre_hook(lambda m, inputs: (2 * inputs[0],))
    model[0].register_forward_pre_hook(lambda m, inputs: inputs[0] + 1)     # one value: wrapped
    with no_grad():
        expected = manual_linear(model[2], 2 * np.tanh(manual_linear(model[0], x.data + 1)))
        np.testing.assert_allclose(model(x).numpy(), expected)


def test_removing_a_handle_stops_the_hook_and_a_with_block_removes_it():
    layer, x = mlp()[0], batch()
    calls = []
    handle = layer.register_forward_hook(lambda *args: calls.append("hook"))
    layer(x)
    handle.remove()
    handle.remove()                                   # again: harmless
    layer(x)
    assert calls == ["hook"]
    with layer.register_forward_pre_hook(lambda *args: calls.append("pre")):
        layer(x)
    layer(x)
    assert calls == ["hook", "pre"]
    with pytest.raises(TypeError, match="register_forward_hook: the hook must be callable"):
        layer.register_forward_hook("not a function")


def test_hooks_run_in_registration_order_each_seeing_the_last_replacement():
    layer, x = mlp()[0], batch()
    order = []

    def hook(tag, add):
        def run(module, inputs, out):
            order.append(tag)
            return out + add
        return run
    handles = [layer.register_forward_hook(hook(tag, add)) for tag, add in (("a", 1), ("b", 10), ("c", 100))]
    layer.register_forward_pre_hook(lambda *args: order.append("pre 1"))
    layer.register_forward_pre_hook(lambda *args: order.append("pre 2"))
    np.testing.assert_allclose(layer(x).numpy(), manual_linear(layer, x.data) + 111)
    assert order == ["pre 1", "pre 2", "a", "b", "c"]
    handles[1].remove()
    order.clear()
    layer(x)
    assert order == ["pre 1", "pre 2", "a", "c"]


def test_summary_leaves_no_hook_behind_and_a_shape_error_still_names_the_layer():
    model = mlp()
    model.summary((1, 4), dtype=np.float64)
    assert all(not m._forward_hooks for m in model.modules())
    model[0].register_forward_pre_hook(lambda *args: None)
    model[0].register_forward_hook(lambda *args: None)
    model[0].register_full_backward_hook(lambda *args: None)
    with pytest.raises(minidl.ShapeError, match=r"^0 \(Linear\): expected input \(N, 4\), got \(6, 3\)$"):
        model(Tensor(np.zeros((6, 3))))


# ----- backward hooks -------------------------------------------------------------------------
def reference_grads(model, x):
    """dL/d(tanh's input) and dL/d(tanh's output) from retain_grad, calling the layers one by one."""
    h = model[0](x)
    h.retain_grad()
    a = model[1](h)
    a.retain_grad()
    loss_of(model[2](a)).backward()
    return h.grad, a.grad


def test_backward_hook_gradients_equal_those_around_the_layer():
    model, x = mlp(), batch(requires_grad=True)
    grad_in, grad_out = reference_grads(model, x)
    expected_x, expected_w = x.grad.copy(), model[0].weight.grad.copy()
    x.grad = None
    model.zero_grad()

    seen = []
    model[1].register_full_backward_hook(lambda m, gi, go: seen.append((m, gi, go)))
    loss_of(model(x)).backward()
    (module, gi, go), = seen
    assert module is model[1] and len(gi) == 1 and len(go) == 1
    np.testing.assert_allclose(go[0], grad_out)
    np.testing.assert_allclose(gi[0], grad_in)
    a = np.tanh(manual_linear(model[0], x.data))
    np.testing.assert_allclose(gi[0], go[0] * (1 - a ** 2))          # the chain rule through tanh
    np.testing.assert_allclose(x.grad, expected_x)                  # the hook changed nothing
    np.testing.assert_allclose(model[0].weight.grad, expected_w)


def test_a_replaced_grad_input_is_what_reaches_earlier_layers():
    model, x = mlp(), batch(requires_grad=True)
    reference_grads(model, x)
    expected_x, expected_w = 3 * x.grad, 3 * model[0].weight.grad
    expected_last = model[2].weight.grad.copy()
    x.grad = None
    model.zero_grad()

    model[1].register_full_backward_hook(lambda m, gi, go: (3 * gi[0],))
    loss_of(model(x)).backward()
    np.testing.assert_allclose(x.grad, expected_x)
    np.testing.assert_allclose(model[0].weight.grad, expected_w)
    np.testing.assert_allclose(model[2].weight.grad, expected_last)   # later layers untouched


def test_backward_hooks_run_in_order_each_seeing_the_last_replacement():
    model, x = mlp(), batch(requires_grad=True)
    reference_grads(model, x)
    expected = x.grad.copy()
    x.grad = None
    seen = []

    def hook(factor):
        def run(module, gi, go):
            seen.append(gi[0].copy())
            return (factor * gi[0],)
        return run
    model[0].register_full_backward_hook(hook(2))
    model[0].register_full_backward_hook(hook(5))
    loss_of(model(x)).backward()
    np.testing.assert_allclose(seen[1], 2 * seen[0])
    np.testing.assert_allclose(x.grad, 10 * expected)


def test_several_inputs_and_outputs_each_get_their_gradient():
    rng = np.random.default_rng(2)
    a = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    b = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    c = Tensor(rng.standard_normal((3, 2)))                          # a constant: no grad
    g1, g2 = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    layer, seen = Scale(), []
    layer.register_full_backward_hook(lambda m, gi, go: seen.append((gi, go)))
    p, q = layer(a, b, 0.5)
    r, _ = layer(a, c, 2.0)                                          # second call: its own gradients
    ((p * Tensor(g1)).sum() + (q * Tensor(g2)).sum() + r.sum()).backward()
    assert len(seen) == 2
    gi, go = next(s for s in seen if s[1][1] is None)               # the second call: only r used
    np.testing.assert_allclose(go[0], np.ones((3, 2)))
    assert gi[1] is None
    np.testing.assert_allclose(gi[0], 2.0 * c.data)
    gi, go = next(s for s in seen if s[1][1] is not None)
    np.testing.assert_allclose(go[0], g1)
    np.testing.assert_allclose(go[1], g2)
    np.testing.assert_allclose(gi[0], 0.5 * b.data * g1 + g2)
    np.testing.assert_allclose(gi[1], 0.5 * a.data * g1 - g2)
    np.testing.assert_allclose(b.grad, gi[1])


def test_the_first_layer_of_a_net_gets_none_for_its_input_and_its_output_gradient():
    model, x = mlp(), batch()                                        # x needs no gradient
    seen = []
    model[0].register_full_backward_hook(lambda m, gi, go: seen.append((gi, go)))
    h = model[0](x)
    h.retain_grad()
    loss_of(model[2](model[1](h))).backward()
    expected = h.grad.copy()
    model(x)                                                         # no backward: no call
    assert len(seen) == 1
    seen.clear()
    loss_of(model(x)).backward()
    (gi, go), = seen
    assert gi == (None,)
    np.testing.assert_allclose(go[0], expected)


def test_hooks_on_a_frozen_or_no_grad_path():
    model, x = mlp(), batch(requires_grad=True)
    forward_calls, backward_calls = [], []
    model[0].register_forward_hook(lambda *args: forward_calls.append(1))
    model[0].register_full_backward_hook(lambda m, gi, go: backward_calls.append(gi))
    with no_grad():                                  # forward hooks still run, no graph recorded
        y = model(x)
    assert len(forward_calls) == 1 and not y.requires_grad and backward_calls == []

    model[0].requires_grad_(False)                   # frozen layer, input needing a gradient
    _, _ = reference_grads(model, x)
    expected_x = x.grad.copy()
    x.grad = None
    backward_calls.clear()
    loss_of(model(x)).backward()
    assert model[0].weight.grad is None
    np.testing.assert_allclose(backward_calls[0][0], expected_x)
    np.testing.assert_allclose(x.grad, expected_x)

    backward_calls.clear()                           # frozen layer, constant input: no gradient
    out = model[0](batch())                          # flows through it, so the hook is not called
    assert not out.requires_grad
    loss_of(model[2](model[1](out))).backward()
    assert backward_calls == [] and len(forward_calls) == 4


def test_a_wrong_replacement_gradient_is_an_error_naming_the_layer():
    model, x = mlp(), batch(requires_grad=True)
    handle = model[1].register_full_backward_hook(lambda m, gi, go: (gi[0][:, :2],))
    with pytest.raises(ValueError, match=r"Tanh backward hook: expected grad_input\[0\] of shape \(6, 5\), got \(6, 2\)"):
        loss_of(model(x)).backward()
    handle.remove()
    model[1].register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(ValueError, match="Tanh backward hook: expected 1 gradients.*got 2"):
        loss_of(model(x)).backward()
