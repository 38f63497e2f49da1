"""The benchmarks' own measuring tools report what they claim to measure."""
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import minidl


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _timing import time_alternating  # noqa: E402
from conv_kernels import gemm_runner  # noqa: E402
from kernel_ops import bytes_moved  # noqa: E402


def test_bytes_moved_counts_array_arguments_and_every_result():
    a, b = np.zeros((4, 5), np.float32), np.zeros(3, np.float64)
    assert bytes_moved((a, 7, "name"), (a, b)) == 2 * a.nbytes + b.nbytes
    assert bytes_moved((a, b), a) == 2 * a.nbytes + b.nbytes


def test_time_alternating_calls_the_functions_in_turn_and_keeps_each_ones_times():
    calls = []
    medians = time_alternating([lambda: calls.append("a"), lambda: calls.append("b")], repeat=3, warmup=1)
    assert calls == ["a", "b"] * 4
    assert len(medians) == 2 and all(m >= 0 for m in medians)


def test_time_alternating_reports_progress_after_each_round():
    rounds = []
    time_alternating([lambda: None], repeat=3, warmup=0, progress=lambda done, total: rounds.append((done, total)))
    assert rounds == [(1, 3), (2, 3), (3, 3)]


def test_gemm_runner_multiplies_the_matrices_of_the_layers_forward_product():
    """(F, C*kh*kw) @ (C*kh*kw, N*OH*OW): the product whose FLOPs conv_flops counts."""
    for padding, positions in ((1, 2 * 6 * 6), (0, 2 * 4 * 4)):
        out = gemm_runner((2, 3, 6, 6), (4, 3, 3, 3), padding)()
        assert out.shape == (4, positions) and out.dtype == np.float32


@pytest.fixture
def lab6_best(monkeypatch):
    """benchmarks/lab6_best.py, imported without leaving its thread settings in os.environ."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        monkeypatch.setenv(var, os.environ.get(var, "1"))        # put back (or removed) afterwards
    import lab6_best
    return lab6_best


def test_training_clock_lays_the_one_cycle_over_training_seconds_and_stops_on_the_budget(lab6_best,
                                                                                        monkeypatch):
    """On a fake clock: the lr peaks a quarter into the budget, reaches the minimum at its end,
    time between pause() and resume() (scoring the test set) does not count, and until() stops
    yielding batches once the budget is spent."""
    now = [0.0]
    monkeypatch.setattr(lab6_best.time, "monotonic", lambda: now[0])
    param = minidl.Tensor(np.zeros(3), requires_grad=True)
    opt = minidl.optim.SGD([param], lr=0.1, momentum=0.9, nesterov=True)
    clock = lab6_best.TrainingClock(opt, {"lr": 0.1, "pct_start": 0.25}, budget_s=100.0)
    lr = lambda: opt.param_groups[0]["lr"]                          # noqa: E731
    assert lr() == pytest.approx(0.1 / 25)
    clock.resume()
    now[0] = 25.0
    clock.step()
    assert lr() == pytest.approx(0.1, rel=1e-3)
    clock.pause()
    now[0] = 85.0                                                   # 60 s scoring the test set
    assert clock.elapsed() == 25.0 and not clock.spent()
    clock.resume()
    seen = []
    for batch in clock.until(range(1000)):
        seen.append(batch)
        now[0] += 1.0                                               # each batch takes a second
        clock.step()
    assert len(seen) == 75 and clock.spent()                        # 25 + 75 = the budget
    assert lr() == pytest.approx(0.1 / 25 / 1e4, rel=1e-3)


@pytest.mark.parametrize("kind", ["swa", "ema"])
def test_tail_average_floors_the_lr_only_for_swa_and_folds_the_weights_it_should(lab6_best, monkeypatch, kind):
    """On a fake clock of 100 s, a step a second: SWA from halfway, every 10 steps, lr held at
    0.01 or above; EMA (decay 0.5) from the start, every step, the lr left to the schedule."""
    now = [0.0]
    monkeypatch.setattr(lab6_best.time, "monotonic", lambda: now[0])
    model = minidl.nn.Linear(2, 1)
    opt = minidl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    clock = lab6_best.TrainingClock(opt, {"lr": 0.1, "pct_start": 0.25}, budget_s=100.0)
    tail = (lab6_best.TailAverage(clock, model, 0.5, 0.01, every=10) if kind == "swa" else
            lab6_best.TailAverage(clock, model, 0.0, None, every=1, avg_fn=minidl.optim.swa_utils.get_ema_avg_fn(0.5)))
    clock.resume()
    weights = []
    for _ in range(99):
        now[0] += 1.0
        model.weight.data[...] = now[0]                      # the weights the step leaves
        weights.append(now[0])
        tail.step()
    lr = opt.param_groups[0]["lr"]
    averaged = float(tail.swa.module.weight.data[0, 0])
    if kind == "swa":
        assert lr == pytest.approx(0.01) and tail.swa.n_averaged == 5        # steps 50, 60, ..., 90
        assert averaged == pytest.approx(np.mean([50, 60, 70, 80, 90]))
    else:
        assert lr < 0.01 and tail.swa.n_averaged == 99                       # the schedule's own end
        assert averaged == pytest.approx(sum(w * 0.5 ** (99 - k) for k, w in enumerate(weights[1:], 1))
                                         + weights[0] * 0.5 ** 98)


def test_alternating_samples_pause_before_each_call_and_leave_the_pause_out_of_the_times():
    from _timing import alternating_samples
    import time
    starts = []
    a, b = alternating_samples([lambda: starts.append(time.perf_counter())] * 2, repeat=3, warmup=0,
                               pause_s=0.01)
    gaps = np.diff(starts)
    assert len(starts) == 6 and gaps.min() >= 0.01
    assert max(a + b) < 10                     # milliseconds: the call, not the 10 ms before it


@pytest.fixture
def which_mode(monkeypatch):
    """benchmarks/which_mode.py, imported without leaving its thread settings in os.environ."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        monkeypatch.setenv(var, os.environ.get(var, "1"))
    import which_mode
    return which_mode


def test_which_mode_resume_keeps_the_finished_seeds_and_their_plan_and_refuses_other_settings(which_mode, tmp_path):
    import json
    config = {"similar": {"sizes": [50], "source_images": 300, "lr": 0.01, "head_lr": 0.1, "scratch_lr": 0.05,
                          "test_images": 200, "classes": {"A": ["a"], "B": ["b"]}, "epochs": [9],
                          "source_epochs": 3}, "seeds": 2}
    saved = {"command": "python benchmarks/which_mode.py", "config": json.loads(json.dumps(config)),
             "timing": {"train_s_per_image": 1.0}, "elapsed_s": 12.5,
             "cells": [{"mode": "scratch", "size": 50, "seed": 0, "accuracy": 0.5}]}
    saved["config"]["similar"]["epochs"] = [4]              # the plan the first run made
    path = tmp_path / "which_mode.json"
    path.write_text(json.dumps(saved))
    new_config, cells, timing, earlier = which_mode.resumed(path, json.loads(json.dumps(config)), {})
    assert cells == saved["cells"] and timing == saved["timing"] and earlier == 12.5
    assert new_config["similar"]["epochs"] == [4]
    assert new_config["resumed"] == {"command": saved["command"], "seeds_kept": [0]}
    other = json.loads(json.dumps(config))
    other["similar"]["sizes"] = [50, 500]
    with pytest.raises(SystemExit, match="other settings .*sizes"):
        which_mode.resumed(path, other, {})
    assert which_mode.resumed(tmp_path / "absent.json", config, {"t": 1})[1:] == ([], {"t": 1}, 0.0)
