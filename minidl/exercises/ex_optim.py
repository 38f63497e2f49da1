"""Exercises of lessons 3 and 6: an SGD-with-momentum step and an Adam step.

The student's step is compared over several steps with minidl.optim.SGD / Adam fed the same
gradients, then trains the digits CNN in place of minidl's optimizer (``lab.StepOptimizer``)."""
from __future__ import annotations

import numpy as np

from .. import Tensor, optim
from ..models.lab6 import digits_cnn
from .compare import assert_close
from .core import Check, CheckFailed, Exercise
from .lab import StepOptimizer, cnn_learns
from .search import for_all, shapes, st

SGD_HINT = ("g = grad + weight_decay param; the first step sets velocity = g, later ones velocity = "
            "momentum velocity + g; then param = param - lr velocity")
ADAM_HINT = ("g = grad + weight_decay param; m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2; "
             "m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t); param = param - lr m_hat / (sqrt(v_hat) + eps)")


def trajectory_cases(**hyper):
    return st.fixed_dictionaries({"param": shapes(1, 3), "steps": st.integers(1, 5),
                                  "weight_decay": st.sampled_from([0.0, 0.01]), **hyper,
                                  "seed": st.integers(0, 2**16)})


def compare_trajectory(case, make_optimizer, student_step, names, hint):
    """Feed minidl's optimizer and the student's step the same gradients, step by step."""
    rng = np.random.default_rng(case["seed"])
    start = rng.standard_normal(case["param"])
    p = Tensor(start.copy(), requires_grad=True)
    opt, mine, state = make_optimizer([p]), start.copy(), {}
    for t in range(1, case["steps"] + 1):
        grad = rng.standard_normal(start.shape)
        p.grad = grad.copy()
        opt.step()
        got = student_step(mine.copy(), grad.copy(), state, t)
        expected = [p.data] + [opt.state.get(p, {}).get(k) for k in names[1:]]
        for name, g, e in zip(names, got, expected):
            if e is not None:           # SGD without momentum keeps no velocity to compare
                assert_close(f"{name} after step {t}", g, e, dtype=np.float64, hint=hint)
        mine = np.asarray(got[0])


def sgd_step(student):
    def step(param, grad, state, hyper):
        new, state["velocity"] = unpack(student.call("sgd_momentum_step", param, grad, state.get("velocity"),
                                                     hyper["lr"], hyper["momentum"], hyper["weight_decay"]),
                                        "sgd_momentum_step", "(param, velocity)")
        return new, state["velocity"]
    return step


def unpack(got, fn, what):
    if not isinstance(got, tuple) or len(got) != what.count(",") + 1:
        raise CheckFailed(f"{fn} returned {type(got).__name__}, expected {what}")
    return got


def sgd_values(student, examples):
    def test(case):
        hyper = {k: case[k] for k in ("lr", "momentum", "weight_decay")}
        step = sgd_step(student)
        compare_trajectory(case, lambda p: optim.SGD(p, **hyper), lambda m, g, s, t: step(m, g, s, hyper),
                           ("param", "momentum_buffer"), SGD_HINT)
    for_all(trajectory_cases(lr=st.sampled_from([0.1, 0.01]), momentum=st.sampled_from([0.0, 0.5, 0.9])),
            test, examples)


def sgd_lesson(student, examples):
    step = sgd_step(student)
    cnn_learns([], "sgd_momentum_step (in place of optim.SGD)", digits_cnn,
               lambda ps: StepOptimizer(ps, lambda d, g, s, group: step(d, g, s, group)[0], lr=0.05,
                                        momentum=0.9, weight_decay=0.0))


SGD_MOMENTUM = Exercise("sgd_momentum_step", "one step of SGD with momentum (and L2 weight decay)", "03, 11",
                        ("sgd_momentum_step",), (
    Check("values", 6, "param and velocity equal minidl.optim.SGD's over 1-5 steps", sgd_values),
    Check("lesson", 4, "the digits CNN trained by your step (lr 0.05, momentum 0.9) learns", sgd_lesson),
))


def adam_step(student):
    def step(param, grad, state, hyper):
        if "m" not in state:
            state.update(m=np.zeros_like(param), v=np.zeros_like(param), t=0)
        state["t"] += 1
        new, state["m"], state["v"] = unpack(student.call(
            "adam_step", param, grad, state["m"], state["v"], state["t"], hyper["lr"], *hyper["betas"],
            hyper["eps"], hyper["weight_decay"]), "adam_step", "(param, m, v)")
        return new, state["m"], state["v"]
    return step


def adam_values(student, examples):
    def test(case):
        hyper = {"lr": case["lr"], "betas": (case["beta1"], 0.999), "eps": 1e-8, "weight_decay": case["weight_decay"]}
        step = adam_step(student)
        compare_trajectory(case, lambda p: optim.Adam(p, **hyper), lambda m, g, s, t: step(m, g, s, hyper),
                           ("param", "exp_avg", "exp_avg_sq"), ADAM_HINT)
    for_all(trajectory_cases(lr=st.sampled_from([0.1, 0.001]), beta1=st.sampled_from([0.9, 0.5])), test, examples)


def adam_lesson(student, examples):
    step = adam_step(student)
    cnn_learns([], "adam_step (in place of optim.Adam)", digits_cnn,
               lambda ps: StepOptimizer(ps, lambda d, g, s, group: step(d, g, s, group)[0], lr=0.01,
                                        betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0))


ADAM = Exercise("adam_step", "one Adam step, bias correction included", "06", ("adam_step",), (
    Check("values", 6, "param, m and v equal minidl.optim.Adam's over 1-5 steps", adam_values),
    Check("lesson", 4, "the digits CNN trained by your step (lr 0.01) learns", adam_lesson),
))

EXERCISES = (SGD_MOMENTUM, ADAM)
