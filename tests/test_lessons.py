"""The lessons keep telling the truth: each one runs in --quick mode, all its claims hold, it
writes its figures, and the course index lists it. Run as a notebook would run it (its jupytext
cells in order in one namespace, in lessons/, with the kernel's ``-f`` argument and the options
in MINIDL_LESSON_ARGS), a lesson makes the same claims as the script: checked for the lessons in
CELLS_CHECKED, or for all with MINIDL_CHECK_ALL_CELLS=1 (it doubles the lessons' time).

Lessons are discovered from lessons/NN_*.py, so a new lesson is tested as soon as it lands.
Each lesson asserts its own claims (a false one raises and the script exits non-zero); these
tests check that the machinery around that works.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minidl.pretrained import pretrained_path

LESSONS_DIR = Path(__file__).resolve().parents[1] / "lessons"
LESSONS = sorted(LESSONS_DIR.glob("[0-9][0-9]_*.py"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CELLS_CHECKED = {"01_backprop_by_hand", "05_convolution_by_hand", "15_backward_memory"}
RUN_CELLS = """import json, sys
sys.argv = ["ipykernel_launcher.py", "-f", "kernel-0.json"]     # what a Jupyter kernel is given
namespace = {"__name__": "__main__"}
for cell in json.load(sys.stdin):
    exec(compile(cell, "<cell>", "exec"), namespace)
"""


def run_script(args, timeout=300):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=LESSONS_DIR.parent)


def test_lessons_are_discovered():
    assert len(LESSONS) >= 5, f"expected lessons/NN_*.py files, found {[p.name for p in LESSONS]}"


@pytest.mark.slow
@pytest.mark.parametrize("script", LESSONS, ids=lambda p: p.stem)
def test_lesson_runs_quick_and_its_claims_hold(script, tmp_path):
    if "pretrained=True" in script.read_text():         # the transfer lessons need ResNet-20's weights
        try:
            pretrained_path("resnet20", download=False)
        except FileNotFoundError as err:
            pytest.skip(f"{script.name} needs the pretrained ResNet-20, not present offline: {err}")
    out = tmp_path / "out"
    proc = run_script([script, "--quick", "--out", out])
    assert proc.returncode == 0, (f"{script.name} exited {proc.returncode}\n--- stdout (end)\n"
                                  f"{proc.stdout[-4000:]}\n--- stderr (end)\n{proc.stderr[-4000:]}")
    claims = [line for line in proc.stdout.splitlines() if line.startswith("claim:")]
    assert claims, f"{script.name} made no claims"
    assert all(line.endswith("... OK") for line in claims)
    if script.stem in CELLS_CHECKED or os.environ.get("MINIDL_CHECK_ALL_CELLS") == "1":
        assert claims_of_cells(script, tmp_path / "cells") == claims, f"{script.name}: cells differ"
    pngs = sorted(out.glob("*.png"))
    assert pngs, f"{script.name} wrote no PNG into {out}"
    for png in pngs:
        data = png.read_bytes()
        assert data[:8] == PNG_SIGNATURE and len(data) > 2000, f"{png.name} is not a real PNG image"


def claims_of_cells(script, out) -> list[str]:
    """The claims printed when the lesson's code cells run in order in one namespace."""
    jupytext = pytest.importorskip("jupytext", reason="jupytext is not installed (pip install -e '.[test]')")
    cells = [c.source for c in jupytext.read(script).cells if c.cell_type == "code"]
    env = dict(os.environ, MPLBACKEND="Agg", MINIDL_LESSON_ARGS=f"--quick --out {out}")
    proc = subprocess.run([sys.executable, "-c", RUN_CELLS], input=json.dumps(cells), capture_output=True,
                          text=True, timeout=300, env=env, cwd=LESSONS_DIR)
    assert proc.returncode == 0, f"{script.name} as cells exited {proc.returncode}\n{proc.stderr[-4000:]}"
    assert not any(out.glob("*.png")) or all(p.stat().st_size > 2000 for p in out.glob("*.png"))
    return [line for line in proc.stdout.splitlines() if line.startswith("claim:")]


def test_a_lessons_cells_run_where_a_kernel_would_and_make_the_scripts_claims(tmp_path):
    """A small lesson written as cells, run as a Jupyter kernel would: an unknown -f argument,
    the options from the environment, _common importable from lessons/."""
    script = tmp_path / "98_cells.py"
    script.write_text("# %% [markdown]\n# # A lesson in two cells\n\n# %%\n"
                      "from _common import claim, start\nlesson = start('98_cells', 'Two cells.')\n\n# %%\n"
                      "claim(lesson.quick, 'the options came from MINIDL_LESSON_ARGS')\n")
    assert claims_of_cells(script, tmp_path / "out") == ["claim: the options came from MINIDL_LESSON_ARGS ... OK"]
    assert (tmp_path / "out").is_dir()


def test_a_false_claim_stops_the_lesson(tmp_path):
    script = tmp_path / "99_false_claim.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(LESSONS_DIR)!r})\n"
        "from _common import claim, start\n"
        "lesson = start('99_false_claim', 'A lesson whose second claim is false.')\n"
        "claim(1 + 1 == 2, 'arithmetic works')\n"
        "claim(1 + 1 == 3, 'one and one make three')\n"
        "print('never reached')\n")
    proc = run_script([script, "--quick", "--out", tmp_path / "out"], timeout=120)
    assert proc.returncode != 0
    assert "claim: arithmetic works ... OK" in proc.stdout
    assert "claim: one and one make three ... FAILED" in proc.stdout
    assert "never reached" not in proc.stdout
    assert "AssertionError" in proc.stderr


def test_course_index_lists_every_lesson():
    index = (LESSONS_DIR / "README.md").read_text()
    missing = [p.name for p in LESSONS if p.name not in index]
    assert not missing, f"lessons/README.md does not list {missing}"


def test_a_transfer_lesson_without_weights_ends_cleanly_with_one_message(tmp_path):
    """Offline without the pretrained weights, lessons 10-11 stop at the part that needs them:
    minidl's one-message explanation, no traceback, exit status 0 (as the CLI answers it)."""
    script = tmp_path / "97_no_weights.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(LESSONS_DIR)!r})\n"
        "from _common import claim, start, with_weights\n"
        "from minidl.pretrained import WeightsNotFoundError\n"
        "lesson = start('97_no_weights', 'A lesson whose second part needs weights.')\n"
        "claim(True, 'the first part ran')\n"
        "def build():\n"
        "    raise WeightsNotFoundError('resnet20: no copy in /nowhere; set MINIDL_WEIGHTS')\n"
        "net = with_weights(lesson, build)\n"
        "print('never reached')\n")
    proc = run_script([script, "--quick", "--out", tmp_path / "out"], timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "claim: the first part ran ... OK" in proc.stdout
    assert "resnet20: no copy in /nowhere; set MINIDL_WEIGHTS" in proc.stdout
    assert "needs published weights" in proc.stdout and "All claims held" in proc.stdout
    assert "never reached" not in proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout
    for name in ("10_feature_extraction.py", "11_fine_tuning.py"):
        text = (LESSONS_DIR / name).read_text()
        first = next(line for line in text.splitlines() if "pretrained=True" in line)
        assert "with_weights(" in first, f"{name} loads weights before with_weights: {first.strip()}"
