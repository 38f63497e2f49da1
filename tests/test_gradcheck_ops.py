"""gradcheck names the op to blame: a wrong backward planted in one op of a small CNN is found
at its own node, and the ops around it, which receive the wrong gradient, are not blamed."""
import numpy as np
import pytest

import minidl
import minidl.functional as F
from minidl import Function, GradcheckError, Tensor, gradcheck, nn
from minidl.gradcheck import check_ops
from minidl.graph import functions_in_forward_order


class Cube(Function):
    """y = x^3 with the correct backward 3 x^2 g."""
    def forward(self, x):
        self.x = x
        return x ** 3

    def backward(self, g):
        return (3 * self.x ** 2 * g,)


class WrongCube(Cube):
    """The same forward; its backward forgets the factor 3 (a planted bug)."""
    def backward(self, g):
        return (self.x ** 2 * g,)


class SmallCNN(nn.Module):
    """conv 3x3 -> ReLU -> cube (custom op) -> max-pool 2 -> flatten -> linear."""
    def __init__(self, cube):
        super().__init__()
        self.cube = cube
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(2 * 2 * 2, 3)

    def forward(self, x):
        h = self.cube.apply(F.relu(self.conv(x)))
        return self.fc(self.pool(h).reshape((x.shape[0], -1)))


def model_and_input(cube, seed=0):
    minidl.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = SmallCNN(cube).double()
    x = Tensor(rng.standard_normal((2, 1, 4, 4)), requires_grad=True)
    return model, x


def test_a_correct_cnn_passes_and_every_op_agrees_alone():
    model, x = model_and_input(Cube)
    assert gradcheck(model, [x]).passed
    checks = check_ops(model, [x])
    assert len(checks) == len(functions_in_forward_order(model(x))) and all(c.passed for c in checks)
    assert all(c.max_abs_error < 1e-6 for c in checks)


def test_the_planted_wrong_backward_is_found_at_its_own_node():
    model, x = model_and_input(WrongCube)
    ops = [type(f).__name__ for f in functions_in_forward_order(model(x))]
    where = ops.index("WrongCube")
    result = gradcheck(model, [x], raise_exception=False)
    assert not result.passed
    bad = result.bad_op
    assert (bad.op, bad.position, bad.num_ops) == ("WrongCube", where, len(ops))
    assert bad.input_shapes == [(2, 2, 4, 4)] and bad.output_shape == (2, 2, 4, 4)
    assert bad.input_index == 0 and not bad.passed
    # the planted backward gives a third of the true gradient, element by element
    assert bad.analytic == pytest.approx(bad.numerical / 3, rel=1e-6, abs=1e-12)
    # the ops that run after it in backward (conv, relu) get its wrong gradient but use it rightly
    checks = check_ops(model, [x])
    assert [c.op for c in checks if not c.passed] == ["WrongCube"]
    assert {c.op for c in checks if c.passed} >= {"Conv2d", "ReLU", "MaxPool2d", "MatMul"}


def test_the_error_message_names_the_op_its_position_and_shapes():
    model, x = model_and_input(WrongCube)
    with pytest.raises(GradcheckError) as err:
        gradcheck(model, [x])
    message = str(err.value)
    assert "WrongCube: inputs (2, 2, 4, 4) -> (2, 2, 4, 4); its backward DISAGREES" in message
    where = [type(f).__name__ for f in functions_in_forward_order(model(x))].index("WrongCube")
    assert f"op {where} (counting from 0 in forward order" in message


def test_replaying_the_ops_leaves_the_parameters_gradients_as_they_were():
    model, x = model_and_input(WrongCube)
    model(x).sum().backward()
    before = {n: p.grad.copy() for n, p in model.named_parameters()}
    check_ops(model, [x])
    assert all(np.array_equal(p.grad, before[n]) for n, p in model.named_parameters())


def test_options_of_each_op_are_replayed():
    """A strided, padded convolution and a sum over one axis: their forward needs the options
    they were applied with, so a replay without them would disagree or fail."""
    rng = np.random.default_rng(1)
    w = Tensor(rng.standard_normal((2, 1, 3, 3)), requires_grad=True)
    x = Tensor(rng.standard_normal((1, 1, 5, 5)), requires_grad=True)
    checks = check_ops(lambda x, w: F.conv2d(x, w, stride=2, padding=1).sum(axis=1), [x, w])
    assert [c.op for c in checks] == ["Sum", "Conv2d"] and all(c.passed for c in checks)
    assert checks[1].input_shapes == [(1, 1, 5, 5), (2, 1, 3, 3), None]
    assert checks[1].output_shape == (1, 2, 3, 3)


def test_tied_maxima_after_relu_are_kinks_skipped_not_blamed_on_max_pooling():
    """Windows the ReLU zeroed hold four equal maxima: moving one element up or down changes
    the slope, so there is no derivative to compare; the check counts them and passes. A bias
    of -100 zeroes the whole second channel."""
    model, x = model_and_input(Cube)
    model.conv.bias.data[1] = -100.0
    pool = next(c for c in check_ops(model, [x]) if c.op == "MaxPool2d")
    h = model.cube.apply(F.relu(model.conv(x))).data
    windows = h.reshape(2, 2, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(-1, 4)
    tied = int(sum(4 for w in windows if np.all(w == 0)))
    assert tied > 0 and pool.passed and pool.kinks >= tied


def test_a_wrong_custom_function_passed_as_its_bound_apply_is_named():
    """gradcheck(Op.apply, ...) with the bound method taken before gradcheck runs still replays
    the op with its options and blames it by name."""
    class Square(Function):
        def forward(self, x, scale):
            self.x, self.scale = x, scale
            return scale * x * x

        def backward(self, g):
            return (g * self.scale * self.x,)              # the factor 2 forgotten

    apply = Square.apply
    x = Tensor(np.random.default_rng(0).normal(size=(3,)), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"(?s)op 0 .* Square: inputs \(3,\) -> \(3,\); its backward DISAGREES"):
        gradcheck(lambda t: apply(t, scale=1.5), [x])


def test_gradcheck_leaves_every_gradient_as_it_was():
    layer = nn.Linear(3, 2)
    for p in layer.parameters():
        p.data = p.data.astype(np.float64)
    x = Tensor(np.random.default_rng(1).normal(size=(4, 3)), requires_grad=True)
    unused = Tensor(np.ones(2), requires_grad=True)
    F.tanh(layer(x)).sum().backward()
    before = [t.grad.copy() for t in (x, *layer.parameters())]
    unused.grad = np.full(2, 7.0)
    gradcheck(lambda x, u: F.tanh(layer(x)), [x, unused])
    for t, g in zip((x, *layer.parameters()), before):
        np.testing.assert_array_equal(t.grad, g)
    np.testing.assert_array_equal(unused.grad, [7.0, 7.0])
