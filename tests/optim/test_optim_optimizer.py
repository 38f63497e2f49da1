"""The Optimizer base class, for every optimizer: parameter groups, skipping frozen parameters,
zero_grad, in-place updates, state and state_dict round trips, and the errors for bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl import backend
from minidl.optim import SGD, Adagrad, Adam, Optimizer, RMSprop
from .optim_testing import SEEDS, SHAPES, Parameter, Problem, run

# each optimizer with hyper-parameters that give it non-trivial state
OPTIMIZERS = {
    "sgd": lambda ps, **kw: SGD(ps, **{"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01, **kw}),
    "nesterov": lambda ps, **kw: SGD(ps, **{"lr": 0.1, "momentum": 0.9, "nesterov": True, **kw}),
    "adam": lambda ps, **kw: Adam(ps, **{"lr": 0.01, "weight_decay": 0.01, "amsgrad": True, **kw}),
    "adagrad": lambda ps, **kw: Adagrad(ps, **{"lr": 0.1, "lr_decay": 0.01, **kw}),
    "rmsprop": lambda ps, **kw: RMSprop(ps, **{"lr": 0.01, "momentum": 0.5, "centered": True, **kw}),
}
each_optimizer = pytest.mark.parametrize("make", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())


def params_with_grads(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    params = [Parameter(rng.standard_normal(s)) for s in shapes]
    for p in params:
        p.grad = rng.standard_normal(p.shape)
    return params


# ----- parameter groups ---------------------------------------------------------------------------
def test_groups_fall_back_to_the_defaults_and_keep_their_own_values():
    a, b, c = params_with_grads((2,), (3,), (4,))
    opt = SGD([{"params": [a, b], "lr": 0.5, "name": "body"}, {"params": c}], lr=0.1, momentum=0.9)
    assert len(opt.param_groups) == 2
    first, second = opt.param_groups
    assert first["params"][0] is a and first["params"][1] is b and second["params"][0] is c
    assert (first["lr"], second["lr"]) == (0.5, 0.1)
    assert first["momentum"] == second["momentum"] == 0.9
    assert first["name"] == "body"                    # extra keys are kept, as in PyTorch
    assert opt.defaults["lr"] == 0.1


def test_a_plain_list_of_parameters_makes_one_group():
    params = params_with_grads((2,), (3,))
    opt = Adam(iter(params))                          # any iterable, e.g. model.parameters()
    assert len(opt.param_groups) == 1
    assert opt.param_groups[0]["params"] == params
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)


def test_changing_a_groups_lr_changes_its_step():
    (p,) = params_with_grads((3,))
    before, g = p.data.copy(), p.grad.copy()
    opt = SGD([p], lr=0.1)
    opt.param_groups[0]["lr"] = 0.02
    opt.step()
    np.testing.assert_allclose(p.data, before - 0.02 * g, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, shapes=SHAPES, lrs=st.lists(st.floats(1e-3, 1.0), min_size=2, max_size=4))
def test_sgd_groups_move_in_proportion_to_their_lr(seed, shapes, lrs):
    # the same gradient in every group: each group's displacement is lr_i / lr_0 times group 0's
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(s) for s in shapes]
    groups = [[Parameter(rng.standard_normal(s)) for s in shapes] for _ in lrs]
    starts = [[p.data.copy() for p in group] for group in groups]
    opt = SGD([{"params": group, "lr": lr} for group, lr in zip(groups, lrs)], lr=1.0)
    for group in groups:
        for p, g in zip(group, grads):
            p.grad = g.copy()
    opt.step()
    for group, start, lr in zip(groups, starts, lrs):
        for p, w0, g in zip(group, start, grads):
            np.testing.assert_allclose(p.data - w0, -lr * g, rtol=1e-10, atol=1e-14)


@each_optimizer
def test_add_param_group_uses_the_defaults_and_trains_the_new_group(make):
    body, head = params_with_grads((2, 3), (3,))
    opt = make([head])
    opt.add_param_group({"params": [body], "lr": 1e-3})
    assert opt.param_groups[1]["lr"] == 1e-3
    for name, value in opt.defaults.items():
        if name != "lr":
            assert opt.param_groups[1][name] == value
    before = body.data.copy()
    opt.step()
    assert not np.array_equal(body.data, before)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [head]})


@pytest.mark.parametrize("params, error, match", [
    (lambda a, b: [], ValueError, "empty parameter list"),
    (lambda a, b: [{"params": [a]}, {"params": []}], ValueError, "group 1: the group has no parameters"),
    (lambda a, b: [{"params": [a, b]}, {"params": [b]}], ValueError, "more than one parameter group"),
    (lambda a, b: [a, b, a], ValueError, "appears twice"),
    (lambda a, b: [{"params": {a, b}}], TypeError, "not a set"),
    (lambda a, b: a, TypeError, "single Tensor"),
    (lambda a, b: [a, np.zeros(3)], TypeError, "parameter 1 is a ndarray"),
    (lambda a, b: [{"lr": 0.1}], ValueError, "needs a 'params' entry"),
    (lambda a, b: [a * 2], ValueError, "not a leaf"),
    (lambda a, b: [{"params": [a], "lr": -1.0}], ValueError, "group 0: invalid lr -1.0"),
])
def test_bad_params_raise_a_clear_error(params, error, match):
    a, b = params_with_grads((3,), (3,))
    with pytest.raises(error, match=match):
        SGD(params(a, b), lr=0.1)


def test_a_group_overriding_a_hyperparameter_is_checked_too():
    (a,) = params_with_grads((3,))
    with pytest.raises(ValueError, match="Adam param group 0: invalid beta2 1.0"):
        Adam([{"params": [a], "betas": (0.9, 1.0)}])
    with pytest.raises(ValueError, match="RMSprop param group 0: invalid momentum"):
        RMSprop([{"params": [a], "momentum": -0.1}])


# ----- step and zero_grad -------------------------------------------------------------------------
@each_optimizer
def test_frozen_parameters_and_missing_grads_are_untouched_and_get_no_state(make):
    trained, frozen, no_grad = params_with_grads((2, 2), (3,), (4,))
    frozen.requires_grad = False                      # a frozen, copied layer
    no_grad.grad = None                               # not used in this forward pass
    frozen_before, no_grad_before = frozen.data.copy(), no_grad.data.copy()
    trained_before = trained.data.copy()
    opt = make([trained, frozen, no_grad], weight_decay=0.1)   # decay would move them otherwise
    for _ in range(3):
        opt.step()
    np.testing.assert_array_equal(frozen.data, frozen_before)
    np.testing.assert_array_equal(no_grad.data, no_grad_before)
    assert frozen not in opt.state and no_grad not in opt.state
    assert not np.array_equal(trained.data, trained_before)


@each_optimizer
def test_step_updates_the_array_in_place_and_leaves_the_grad_alone(make):
    (p,) = params_with_grads((3, 2))
    array, grad, grad_before = p.data, p.grad, p.grad.copy()
    before = p.data.copy()
    make([p], weight_decay=0.1).step()
    assert p.data is array                            # a layer holding the array sees the change
    assert not np.array_equal(array, before)
    assert p.grad is grad
    np.testing.assert_array_equal(p.grad, grad_before)


@each_optimizer
def test_float32_parameters_and_their_state_stay_float32(make):
    p = Parameter(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))
    opt = make([p])
    for _ in range(2):
        p.grad = np.full((2, 3), 0.5, dtype=np.float32)
        opt.step()
    assert p.data.dtype == np.float32
    arrays = [v for v in opt.state[p].values() if isinstance(v, np.ndarray)]
    assert arrays and all(a.dtype == np.float32 and a.shape == (2, 3) for a in arrays)


def test_zero_grad_sets_grads_to_none_or_fills_them_with_zero():
    a, b = params_with_grads((2,), (3,))
    opt = SGD([a, b], lr=0.1)
    grad_b = b.grad
    opt.zero_grad(set_to_none=False)
    assert b.grad is grad_b
    np.testing.assert_array_equal(b.grad, np.zeros(3))
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    opt.step()                                        # nothing to do, nothing breaks


def test_state_is_kept_per_parameter_object():
    # two parameters with equal values are still two parameters with their own state
    a, b = Parameter(np.ones(3)), Parameter(np.ones(3))
    opt = Adam([a, b], lr=0.1)
    a.grad, b.grad = np.ones(3), -np.ones(3)
    opt.step()
    assert opt.state[a] is not opt.state[b]
    np.testing.assert_allclose(opt.state[a]["exp_avg"], 0.1 * np.ones(3))
    np.testing.assert_allclose(opt.state[b]["exp_avg"], -0.1 * np.ones(3))


def test_step_calls_the_closure_and_returns_its_loss():
    (p,) = params_with_grads((2,))
    calls = []
    loss = SGD([p], lr=0.1).step(lambda: calls.append(1) or 3.5)
    assert loss == 3.5 and calls == [1]


def test_a_grad_of_the_wrong_shape_is_reported():
    (p,) = params_with_grads((2, 3))
    p.grad = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"parameter 0 of group 0 has shape \(2, 3\) but its "
                                         r"grad has shape \(3, 2\)"):
        SGD([p], lr=0.1).step()


def test_the_base_class_needs_an_update_rule():
    (p,) = params_with_grads((2,))
    with pytest.raises(NotImplementedError, match="_update"):
        Optimizer([p], {"lr": 0.1}).step()


def test_repr_lists_each_group():
    a, b = params_with_grads((2,), (3,))
    text = repr(SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1))
    assert text.startswith("SGD (") and "Parameter Group 1" in text
    assert "    lr: 0.5" in text and "    lr: 0.1" in text


# ----- state_dict ---------------------------------------------------------------------------------
@each_optimizer
def test_state_dict_round_trip_continues_identically(make):
    problem = Problem(seed=7, shapes=[(2, 3), (4,), (3,)], steps=8)
    reference, _, _ = run(lambda ps: make([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.05}]),
                          problem)

    # train 4 steps, save, build a fresh optimizer (other hyper-parameters) on copies, load, go on
    params = [Parameter(w.copy()) for w in problem.w0]
    opt = make([{"params": params[:2]}, {"params": params[2:], "lr": 0.05}])
    for t in range(4):
        for k, p in enumerate(params):
            p.grad = problem.grad(t, k, p.data.copy())
        opt.step()
    saved = opt.state_dict()
    resumed = [Parameter(p.data.copy()) for p in params]
    opt2 = make([{"params": resumed[:2]}, {"params": resumed[2:], "lr": 0.5}], lr=0.3)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[1]["lr"] == 0.05 and opt2.param_groups[0]["params"][1] is resumed[1]
    for t in range(4, 8):
        for k, p in enumerate(resumed):
            p.grad = problem.grad(t, k, p.data.copy())
        opt2.step()
        for k, p in enumerate(resumed):
            np.testing.assert_array_equal(p.data, reference[t][k], err_msg=f"step {t + 1}")


@each_optimizer
def test_state_dict_refers_to_parameters_by_index_and_is_a_snapshot(make):
    a, b, c = params_with_grads((2,), (3,), (4,))
    opt = make([{"params": [a, b]}, {"params": [c]}])
    opt.step()
    saved = opt.state_dict()
    assert [g["params"] for g in saved["param_groups"]] == [[0, 1], [2]]
    assert sorted(saved["state"]) == [0, 1, 2]
    assert all("params" in g and "lr" in g for g in saved["param_groups"])
    arrays = {key: v.copy() for key, v in saved["state"][1].items() if isinstance(v, np.ndarray)}
    assert arrays
    opt.step()                                        # training on must not change the snapshot
    for key, value in arrays.items():
        np.testing.assert_array_equal(saved["state"][1][key], value)


def test_a_state_dict_that_went_through_a_file_is_restored_as_python_values():
    # np.savez turns numbers into 0-d arrays, tuples and lists into 1-d arrays, keys into strings
    (p,) = params_with_grads((3,))
    opt = Adam([p], lr=0.1, betas=(0.5, 0.75), amsgrad=True)
    opt.step()
    saved = opt.state_dict()
    through_file = {
        "state": {str(i): {k: np.asarray(v) for k, v in s.items()} for i, s in saved["state"].items()},
        "param_groups": [{k: np.asarray(v) for k, v in g.items()} for g in saved["param_groups"]],
    }
    (q,) = params_with_grads((3,))
    opt2 = Adam([q])
    opt2.load_state_dict(through_file)
    assert opt2.state[q]["step"] == 1 and type(opt2.state[q]["step"]) is int
    np.testing.assert_array_equal(opt2.state[q]["exp_avg"], opt.state[p]["exp_avg"])
    group = opt2.param_groups[0]
    assert group["betas"] == (0.5, 0.75) and type(group["lr"]) is float and group["amsgrad"] is True
    assert group["params"] == [q]


def test_load_state_dict_checks_the_hyperparameters_it_restores():
    (p,) = params_with_grads((3,))
    opt = SGD([p], lr=0.1)
    saved = opt.state_dict()
    saved["param_groups"][0]["lr"] = -0.1
    with pytest.raises(ValueError, match="SGD.load_state_dict: param group 0: invalid lr -0.1"):
        opt.load_state_dict(saved)


def test_load_state_dict_casts_arrays_to_the_parameters_dtype():
    p = Parameter(np.ones(3))
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(3)
    opt.step()
    q = Parameter(np.ones(3, dtype=np.float32))
    opt2 = SGD([q], lr=0.1, momentum=0.9)
    opt2.load_state_dict(opt.state_dict())
    assert opt2.state[q]["momentum_buffer"].dtype == np.float32


@pytest.mark.parametrize("build, match", [
    (lambda a, b, c: SGD([a, b, c], lr=0.1, momentum=0.9), "2 parameter groups, the optimizer has 1"),
    (lambda a, b, c: SGD([{"params": [a]}, {"params": [b, c]}], lr=0.1, momentum=0.9),
     "group 0 has 2 parameters in the state dict, 1 in the optimizer"),
    (lambda a, b, c: SGD([{"params": [a, c]}, {"params": [b]}], lr=0.1, momentum=0.9),
     r"'momentum_buffer' of parameter 1 has shape \(3,\), the parameter has shape \(4,\)"),
])
def test_load_state_dict_rejects_a_mismatched_layout(build, match):
    a, b, c = params_with_grads((2,), (3,), (4,))
    opt = SGD([{"params": [a, b]}, {"params": [c]}], lr=0.1, momentum=0.9)
    opt.step()
    saved = opt.state_dict()
    x, y, z = params_with_grads((2,), (3,), (4,))
    with pytest.raises(ValueError, match=match):
        build(x, y, z).load_state_dict(saved)


# ----- GPU ----------------------------------------------------------------------------------------
@pytest.mark.gpu                                      # tests/conftest.py skips it without a GPU
@each_optimizer
def test_cupy_parameters_follow_the_numpy_trajectory(make):
    cp = backend.cupy_or_none()
    problem = Problem(seed=3, shapes=[(3, 4), (5,)])
    expected, _, _ = run(make, problem)
    params = [Parameter(cp.asarray(w)) for w in problem.w0]
    opt = make(params)
    for t in range(problem.steps):
        for k, p in enumerate(params):
            p.grad = cp.asarray(problem.grad(t, k, cp.asnumpy(p.data)))
        opt.step()
        for k, p in enumerate(params):
            assert backend.is_cupy_array(p.data)
            np.testing.assert_allclose(cp.asnumpy(p.data), expected[t][k], rtol=1e-9, atol=1e-12)
