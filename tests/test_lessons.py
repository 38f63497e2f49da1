"""The lessons keep telling the truth: each one runs in --quick mode, all its claims hold, it
writes its figures, and the course index lists it.

Lessons are discovered from lessons/NN_*.py, so a new lesson is tested as soon as it lands.
Each lesson asserts its own claims (a false one raises and the script exits non-zero); these
tests check that the machinery around that works.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minidl.pretrained import pretrained_path

LESSONS_DIR = Path(__file__).resolve().parents[1] / "lessons"
LESSONS = sorted(LESSONS_DIR.glob("[0-9][0-9]_*.py"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
    pngs = sorted(out.glob("*.png"))
    assert pngs, f"{script.name} wrote no PNG into {out}"
    for png in pngs:
        data = png.read_bytes()
        assert data[:8] == PNG_SIGNATURE and len(data) > 2000, f"{png.name} is not a real PNG image"


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
