"""The README's "Distributed training" example runs as printed: in this process (a job of one
rank) and under mpiexec -n 2, where it learns the digits as well."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
REPORT = """
if comm.is_main:
    import json, sys
    json.dump({"size": comm.size, "val_acc": history.val_acc, "lr": opt.param_groups[0]["lr"]},
              open(sys.argv[1], "w"))
"""


def example() -> str:
    rest = README[README.index("## Distributed training"):]
    return re.search(r"```python\n(.*?)```", rest, re.S).group(1)


def test_the_example_trains_on_one_process():
    scope = {}
    exec(example(), scope)
    assert scope["comm"].size == 1 and scope["history"].val_acc[-1] > 0.9


def test_the_example_trains_on_two_ranks(tmp_path):
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install -e '.[distributed]')")
    from .test_mpi import MPIEXEC, launch
    if MPIEXEC is None:
        pytest.skip("no mpiexec found (pip install mpich)")
    script = tmp_path / "example.py"
    script.write_text(example() + REPORT)
    proc = launch(2, [script, tmp_path / "result.json"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["size"] == 2 and result["lr"] == 0.1         # warmed up to 2 x 0.05
    assert result["val_acc"][-1] > 0.9
