"""The mutation audit: its mutants really corrupt each backward, and (the fast subset CI runs)
minidl's own tests catch them. The whole audit's report is lessons/exercises/AUDIT.md."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minidl import Tensor, gradcheck, kernels
from minidl import functional as F
from minidl.exercises import audit
from minidl.exercises.mutants import applied, by_id, mutants, mutated, targets
from minidl.functional.activation import Sigmoid

ROOT = Path(__file__).resolve().parents[2]


def test_every_backward_has_mutants_of_every_kind():
    every = mutants()
    assert {m.target for m in every} == set(targets())
    assert {m.target for m in every if m.kind == "sign"} == set(targets())
    assert {m.kind for m in every} == {"sign", "drop-term", "drop-factor", "transpose", "swap-grads", "stride", "padding"}
    assert len({m.id for m in every}) == len(every)
    for m in every:
        assert callable(mutated(m))
        if "` -> `" in m.description:
            before, after = m.description.split("` -> `")
            assert before.strip("`") != after.strip("`"), m.id
    for name in ("op:col2im", "op:conv2d_backward", "op:max_pool2d_backward", "op:batch_norm_backward",
                 "conv.Conv2d.backward", "pool.MaxPool2d.backward", "norm.BatchNorm.backward"):
        assert name in targets()


def test_a_mutant_changes_the_gradient_inside_its_block_only():
    x = Tensor(np.linspace(-2, 2, 6).reshape(2, 3), requires_grad=True)
    with applied(by_id("activation.Sigmoid.backward:drop-factor:1")):
        assert not gradcheck(F.sigmoid, [x], raise_exception=False).passed
    assert gradcheck(F.sigmoid, [x], raise_exception=False).passed
    xc = Tensor(np.random.default_rng(0).normal(size=(1, 2, 5, 5)), requires_grad=True)
    w = Tensor(np.random.default_rng(1).normal(size=(2, 2, 3, 3)))
    conv = lambda t: F.conv2d(t, w, None, 1, 1)  # noqa: E731
    with kernels.use_reference(), applied(by_id("op:col2im:drop-term:2")):   # += becomes =
        assert not gradcheck(conv, [xc], raise_exception=False).passed
    assert gradcheck(conv, [xc], raise_exception=False).passed


def test_apply_keeps_the_mutant_for_the_rest_of_the_process():
    script = ("import gc\nfrom minidl.exercises import mutants\n"
              "mutants.apply(mutants.by_id('activation.Sigmoid.backward:sign:0'))\ngc.collect()\n"
              "from minidl.functional.activation import Sigmoid\nprint(Sigmoid.backward.__name__)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "negated", out.stderr
    assert Sigmoid.backward.__name__ == "backward"           # this process is untouched


def test_without_a_mutant_the_plugin_leaves_the_tests_passing():
    env = {k: v for k, v in os.environ.items() if k != "MINIDL_MUTANT"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                          "minidl.exercises.mutant_plugin", audit.EVERY], capture_output=True, text=True,
                         cwd=ROOT, env=dict(env, OPENBLAS_NUM_THREADS="1"))
    assert out.returncode == 0, out.stdout[-2000:]


@pytest.mark.parametrize("mutant_id", sorted(audit.FAST))
def test_minidls_own_tests_catch_the_fast_subset(mutant_id):
    verdict = audit.run_mutant(by_id(mutant_id), (audit.FAST[mutant_id],))
    assert verdict.outcome == "caught", f"{mutant_id} survived {audit.FAST[mutant_id]}"
    assert verdict.caught_by.startswith(audit.FAST[mutant_id])
