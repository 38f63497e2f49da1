"""Runs never lose work: a new run that fails or is interrupted leaves the previous run's files
as they were, `train --resume` continues an interrupted run to the very weights of an
uninterrupted one, and bad numbers are one-line errors, not tracebacks."""
import json

import numpy as np
import pytest

import minidl
from minidl.__main__ import main
from minidl.backend import cuda_available

from .epochs import interrupt_in_epoch, record_epochs

ARGS = ["train", "mlp", "--dataset", "digits", "--limit", "200", "--batch-size", "32", "--quiet"]


def run_files(out):
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.name != "checkpoint.npz"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """An uninterrupted 3-epoch run."""
    out = tmp_path_factory.mktemp("runs") / "full"
    assert main(ARGS + ["--epochs", "3", "--out", str(out)]) == 0
    return out


def test_a_run_failing_at_once_leaves_the_previous_run_intact(finished, tmp_path, capsys):
    if cuda_available():
        pytest.skip("needs a machine without a GPU")
    before = run_files(finished)
    assert main(ARGS + ["--epochs", "1", "--out", str(finished), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "cuda" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert run_files(finished) == before               # best.npz was deleted before this fix


def test_ctrl_c_keeps_the_old_files_and_resume_finishes_the_same_run(finished, tmp_path,
                                                                     monkeypatch, capsys):
    out = tmp_path / "run"
    assert main(ARGS + ["--epochs", "1", "--out", str(out), "--seed", "7"]) == 0  # an older run
    older = run_files(out)
    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, 3)                    # Ctrl-C during epoch 3 of 3
        assert main(ARGS + ["--epochs", "3", "--out", str(out)]) == 130
    assert "--resume" in capsys.readouterr().err
    assert run_files(out) == older and (out / "checkpoint.npz").is_file()
    with monkeypatch.context() as patch:
        epochs_run = record_epochs(patch)
        assert main(ARGS + ["--epochs", "3", "--out", str(out), "--resume"]) == 0
    assert epochs_run == [3]            # a fresh run of the same seed would end the same: count
    resumed, full = minidl.load(out / "best.npz"), minidl.load(finished / "best.npz")
    for key in full:
        np.testing.assert_array_equal(resumed[key], full[key], err_msg=key)
    epochs = [json.loads((d / "history.json").read_text())["epochs"] for d in (out, finished)]
    assert [[{k: v for k, v in e.items() if k != "seconds"} for e in h] for h in epochs][0] == \
        [[{k: v for k, v in e.items() if k != "seconds"} for e in h] for h in epochs][1]


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(ARGS + ["--epochs", "1", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "no " in capsys.readouterr().err and not (tmp_path / "none").exists()


@pytest.mark.parametrize("option, value", [("--batch-size", "nan"), ("--epochs", "inf"),
                                           ("--lr", "nan"), ("--lr", "-1"), ("--limit", "0"),
                                           ("--val-fraction", "1.5"), ("--epochs", "2.5"),
                                           ("--momentum", "inf")])
def test_bad_numbers_are_one_line_errors_naming_the_option(option, value, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "mlp", "--dataset", "digits", option, value])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"argument {option}" in err and value in err
