"""Data parallelism over real MPI: jobs of 2 ranks (and of 1) launched with the venv's mpiexec,
each under a timeout (a hung job fails the test with what it printed, and is killed), their
per-rank results compared with each other and with the same training in this one process.

Skipped, with the reason, without mpi4py or mpiexec (pip install -e '.[distributed]').
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install -e '.[distributed]')")

from minidl.data import DataLoader  # noqa: E402
from minidl.train import fit  # noqa: E402

from . import workers as W  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
TIMEOUT = 180           # seconds for one job; the 2-rank scenarios take ~3 s on an idle machine
TOLERANCE = 1e-10       # float64: the shards' mean gradient equals the batch's up to rounding

pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec found (pip install mpich)")


def launch(ranks: int, args, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """mpiexec -n ranks python args..., one BLAS/Numba thread per rank, in its own process group
    so that a hung job is killed whole; pytest.fail with its output if it outlives timeout."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               MPIEXEC_TIMEOUT=str(int(timeout)), PYTHONUNBUFFERED="1")
    command = [MPIEXEC, "-n", str(ranks), sys.executable, *map(str, args)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=REPO, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the MPI job {' '.join(command)} hung for {timeout} s\n--- stdout\n{out[-3000:]}"
                    f"\n--- stderr\n{err[-3000:]}")
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def results(out: Path, scenario: str, ranks: int = 2) -> list[dict]:
    return [json.loads((out / f"rank{r}_{scenario}.json").read_text()) for r in range(ranks)]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """One 2-rank job running the scenarios one after the other (one start-up for all)."""
    out = tmp_path_factory.mktemp("mpi2")
    proc = launch(2, [HERE / "workers.py", out, "gradients", "equivalence", "diverge", "drift",
                      "evaluation"])
    assert proc.returncode == 0, f"the job failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return out


def test_rank_filled_gradients_average_to_their_mean(two_ranks):
    for r in results(two_ranks, "gradients"):
        assert r["p32"] == [1.5] * 5 and r["p32_dtype"] == "float32"       # (1 + 2) / 2
        assert r["p64"] == (np.arange(6.0).reshape(2, 3) * 1.5).tolist()
        assert r["only_rank1"] == [2.0, 2.0]       # rank 0 had none: zeros there, (0 + 4) / 2
        assert r["nowhere_is_none"]
        assert (r["all_rank0"], r["all_true"], r["same_rank"], r["same_5"]) == (False, True, False, True)
        assert r["sum"] == [2.0, 1.0] and r["gather"] == [0, 0, 1]


def reference_fit(epochs: int, resume=None):
    """The equivalence scenario in one process: plain BatchNorm, batch 2 x BATCH, same shuffle."""
    net = W.model()
    x, y = W.data()
    xv, yv = W.data(W.N_VAL, seed=1)
    train = DataLoader(x, y, 2 * W.BATCH, shuffle=True, seed=W.SHUFFLE_SEED)
    history = fit(net, W.optimizer(net), train, DataLoader(xv, yv, 5), epochs=epochs,
                  progress=False, resume=resume)
    return net.state_dict(), history


def assert_close_states(mine: dict, reference: dict, what: str):
    assert sorted(mine) == sorted(reference), what
    for key, value in reference.items():
        assert mine[key].dtype == value.dtype, f"{what}: {key} dtype"
        np.testing.assert_allclose(mine[key], value, rtol=0, atol=TOLERANCE,
                                   err_msg=f"{what}: {key}")


def test_two_ranks_of_batch_b_train_like_one_process_of_batch_2b(two_ranks):
    """Parameters, batch-norm running statistics and every recorded number, after 2 epochs
    (12 steps of SGD with momentum and weight decay, SyncBatchNorm against BatchNorm)."""
    reference, history = reference_fit(2)
    for r, result in enumerate(results(two_ranks, "equivalence")):
        with np.load(two_ranks / f"rank{r}_epoch2.npz") as f:
            assert_close_states(dict(f), reference, f"rank {r} after 2 epochs")
        for key, values in W.history_numbers(history).items():
            np.testing.assert_allclose(result["epoch2"][key], values, rtol=0, atol=TOLERANCE,
                                       err_msg=key)
        assert result["batches_per_epoch"] == 6 and result["steps"] == 18


def test_the_ranks_parameters_are_bit_identical(two_ranks):
    for epoch in (2, 3):
        with np.load(two_ranks / f"rank0_epoch{epoch}.npz") as a, \
                np.load(two_ranks / f"rank1_epoch{epoch}.npz") as b:
            assert sorted(a) == sorted(b)
            for key in a:
                assert a[key].tobytes() == b[key].tobytes(), f"epoch {epoch}: {key} differs"


def test_rank0s_checkpoint_resumes_in_one_process(two_ranks):
    """The checkpoint of the 2-rank job after epoch 2, resumed by one process with batch 2b:
    epoch 3 equals the 2-rank job's own epoch 3 (which resumed from it too), and a one-process
    run that never stopped."""
    assert sorted(p.name for p in two_ranks.glob("checkpoint*")) == ["checkpoint.npz"]
    resumed, history = reference_fit(3, resume=two_ranks / "checkpoint.npz")
    uninterrupted, _ = reference_fit(3)
    with np.load(two_ranks / "rank0_epoch3.npz") as f:
        assert_close_states(dict(f), resumed, "2-rank epoch 3 against the resumed 1-process run")
    assert_close_states(resumed, uninterrupted, "resumed against uninterrupted")
    assert len(history) == 3
    np.testing.assert_allclose(results(two_ranks, "equivalence")[0]["epoch3"]["val_loss"],
                               history.val_loss, rtol=0, atol=TOLERANCE)


def test_a_diverged_loss_on_one_rank_stops_both_at_the_same_batch(two_ranks):
    ranks = results(two_ranks, "diverge")
    assert [r["steps"] for r in ranks] == [1, 1]
    assert "epoch 1, batch 2" in ranks[0]["stop_reason"] and "another process" in ranks[0]["stop_reason"]
    assert "the training loss became inf at epoch 1, batch 2" in ranks[1]["stop_reason"]
    assert ranks[0]["iteration_loss"] == ranks[1]["iteration_loss"]
    assert ranks[0]["iteration_loss"][1] == float("inf")


def test_drift_is_caught_on_every_rank_at_the_next_check(two_ranks):
    for r in results(two_ranks, "drift"):
        assert r["steps"] == 3
        assert "drifted apart after step 3" in r["message"]
        assert "group 0 parameter 4" in r["message"] and "rank(s) [1]" in r["message"]


def test_evaluate_on_uneven_shards_equals_evaluate_on_all(two_ranks):
    for r in results(two_ranks, "evaluation"):
        assert r["loss_diff"] < 1e-14 and r["same"] and r["num_samples"] == W.N_VAL
        assert r["accuracy"][0] == r["accuracy"][1]


def test_a_job_of_one_rank_equals_plain_training_exactly(tmp_path):
    proc = launch(1, [HERE / "workers.py", tmp_path, "plain_versus_size1"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = results(tmp_path, "plain_versus_size1", ranks=1)
    assert result["size"] == 1 and result["equal"] and result["history_equal"]


def test_a_failing_rank_takes_the_job_down_with_its_error(tmp_path):
    started = time.monotonic()
    proc = launch(2, [HERE / "workers.py", tmp_path, "fail"], timeout=90)
    assert proc.returncode != 0
    assert "minidl.distributed: rank 1 of 2 failed" in proc.stderr
    assert "ValueError: a planted failure on rank 1" in proc.stderr
    assert time.monotonic() - started < 60


def test_the_cli_trains_on_two_ranks_and_only_rank0_writes(tmp_path):
    out = tmp_path / "run"
    proc = launch(2, ["-m", "minidl", "train", "digits-cnn", "--dataset", "digits", "--epochs", "2",
                      "--batch-size", "32", "--distributed", "--quiet", "--out", out])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert proc.stdout.count("test accuracy") == 1, proc.stdout        # printed by rank 0 only
    assert "2 processes" in proc.stdout
    history = json.loads((out / "history.json").read_text())
    assert history["meta"]["world_size"] == 2 and history["meta"]["global_batch_size"] == 64
    assert len(history["epochs"]) == 2 and history["meta"]["test_accuracy"] > 0.5
    for name in ("best.npz", "checkpoint.npz", "learning_curves.png", "confusion_matrix.png"):
        assert (out / name).is_file(), name


@pytest.mark.gpu
@pytest.mark.parametrize("ranks", [1, 2])
def test_gpu_arrays_train_like_the_cpu_reference(tmp_path, ranks):
    """CuPy gradients averaged through host memory; SyncBatchNorm and fit on the GPU equal the
    one-process CPU reference of batch ranks x BATCH (float64) to 1e-10; NCCL's all-reduce and
    broadcast where every rank has a GPU of its own."""
    proc = launch(ranks, [HERE / "workers.py", tmp_path, "gpu"])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    net = W.model()
    x, y = W.data()
    xv, yv = W.data(W.N_VAL, seed=1)
    fit(net, W.optimizer(net), DataLoader(x, y, ranks * W.BATCH, shuffle=True, seed=W.SHUFFLE_SEED),
        DataLoader(xv, yv, 5), epochs=2, progress=False)
    for r, result in enumerate(results(tmp_path, "gpu", ranks)):
        assert result["is_cupy"] and result["mean"] == [(ranks + 1) / 2] * 3
        with np.load(tmp_path / f"rank{r}_gpu_epoch2.npz") as f:
            assert_close_states(dict(f), net.state_dict(), f"GPU rank {r}")
        if "nccl" in result:
            assert result["nccl"]["sum"] == (np.arange(4.0) * sum(range(1, ranks + 1))).tolist()
            assert result["nccl"]["bcast"] == [0.0, 0.0]
