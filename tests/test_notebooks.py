"""Every lesson is also a notebook: a jupytext "percent" script whose cells, run in order in one
namespace, are the script (the same statements), with markdown cells for the explanations; one
converted notebook runs in a real Jupyter kernel with its claims holding and figures inline.

Running every lesson's cells and comparing their claims with the script's run is part of
tests/test_lessons.py, which runs the scripts already."""
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext", reason="jupytext is not installed (pip install -e '.[test]')")

LESSONS_DIR = Path(__file__).resolve().parents[1] / "lessons"
LESSONS = sorted(LESSONS_DIR.glob("[0-9][0-9]_*.py"))


def code_cells(notebook) -> list[str]:
    return [c.source for c in notebook.cells if c.cell_type == "code"]


@pytest.mark.parametrize("script", LESSONS, ids=lambda p: p.stem)
def test_each_lesson_converts_to_a_notebook_whose_cells_are_the_script(script):
    text = script.read_text(encoding="utf-8")
    notebook = jupytext.reads(text, fmt="py:percent")
    kinds = [c.cell_type for c in notebook.cells]
    assert kinds[0] == "markdown" and kinds.count("code") >= 2, f"{script.name}: cells {kinds}"
    number = int(script.name[:2])
    assert notebook.cells[0].source.startswith(f"# Lesson {number}. "), notebook.cells[0].source[:80]
    assert sum(c.source.startswith("## ") for c in notebook.cells if c.cell_type == "markdown") >= 1
    # the code cells, in order, are the script's statements: nothing is lost or added
    joined = "\n".join(code_cells(notebook))
    assert ast.dump(ast.parse(joined)) == ast.dump(ast.parse(text)), f"{script.name}: cells differ from the script"
    # and the notebook writes back to the same percent script
    again = jupytext.reads(jupytext.writes(jupytext.reads(text, fmt="py:percent"), fmt="ipynb"), fmt="ipynb")
    assert code_cells(again) == code_cells(notebook)
    assert not re.search(r"\blectures? \d{3}\b", text, re.I), f"{script.name} cites a lecture by file number"


def test_the_course_index_names_lectures_in_words():
    assert not re.search(r"\blectures? \d{3}\b|\(\d{3}[,)]", (LESSONS_DIR / "README.md").read_text(), re.I)


def script_claims(script, out) -> list[str]:
    proc = subprocess.run([sys.executable, str(script), "--quick", "--out", str(out)], capture_output=True,
                          text=True, timeout=300, cwd=LESSONS_DIR, env=dict(os.environ, MPLBACKEND="Agg"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [line for line in proc.stdout.splitlines() if line.startswith("claim:")]


def test_a_converted_notebook_runs_in_a_jupyter_kernel_with_inline_figures(tmp_path):
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install -e '.[test]')")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install -e '.[test]')")
    script = LESSONS_DIR / "01_backprop_by_hand.py"
    notebook = jupytext.read(script)
    os.environ["MINIDL_LESSON_ARGS"] = f"--quick --out {tmp_path / 'notebook'}"
    try:
        nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(LESSONS_DIR)}}).execute()
    finally:
        del os.environ["MINIDL_LESSON_ARGS"]
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    claims = [line for line in printed.splitlines() if line.startswith("claim:")]
    assert claims == script_claims(script, tmp_path / "script")
    assert any("image/png" in o.get("data", {}) for o in outputs if o.output_type == "display_data"), \
        "no figure was shown inline"
    assert (tmp_path / "notebook" / "backprop_by_hand.png").exists()
