"""The grader is honest: an untouched stub fails every check, the reference solution passes
every check, a planted mistake fails the check it should with the feedback it should, and
grading reads only the student's file (never a solution)."""
import ast
import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minidl.exercises import EXERCISES, STUBS, Student, grade
from .planted import PLANTED, SOLUTIONS, check, plant

EXAMPLES = 8
ROOT = Path(__file__).resolve().parents[2]


def test_every_exercise_has_a_stub_and_a_solution_and_nothing_else_is_there():
    stubs = {p.stem for p in STUBS.glob("*.py")}
    solutions = {p.stem for p in SOLUTIONS.glob("*.py")} - {"__init__"}
    assert stubs == solutions == set(EXERCISES)
    assert len(EXERCISES) >= 10


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_a_stub_states_its_signature_and_shapes_and_only_raises(name):
    """Each stub function's body is its docstring and `raise NotImplementedError`; the module
    docstring names the lesson's equation and the command that grades it, and the stub's
    signatures are the solution's."""
    tree = ast.parse((STUBS / f"{name}.py").read_text())
    doc = ast.get_docstring(tree)
    assert f"python -m minidl exercise check {name}" in doc and "=" in doc
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    assert {f.name for f in functions} >= {n for n in EXERCISES[name].functions if n[0].islower()}
    for f in functions:
        assert ast.get_docstring(f), f"{name}.{f.name} has no docstring"
        body = f.body[1:]
        assert len(body) == 1 and isinstance(body[0], ast.Raise) and \
            ast.unparse(body[0].exc) == "NotImplementedError", f"{name}.{f.name} does more than raise"
    stub, solution = Student(STUBS / f"{name}.py", name), Student(SOLUTIONS / f"{name}.py", name)
    for fn in EXERCISES[name].functions:
        assert inspect.signature(stub.function(fn)) == inspect.signature(solution.function(fn))


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_an_untouched_stub_fails_every_check(name):
    results = grade(EXERCISES[name], STUBS / f"{name}.py", EXAMPLES)
    assert [r.check for r in results] == [c.name for c in EXERCISES[name].checks]
    assert all(not r.passed and r.earned == 0 for r in results)
    assert all("not written yet" in r.failure.message for r in results)


def test_every_reference_solution_passes_every_check(tmp_path):
    """Graded from a copy in a folder of their own, as a student's files would be."""
    for path in SOLUTIONS.glob("*.py"):
        shutil.copy(path, tmp_path)
    for name, exercise in EXERCISES.items():
        results = grade(exercise, tmp_path / f"{name}.py", EXAMPLES)
        failed = [f"{r.check}: {r.failure.text()}" for r in results if not r.passed]
        assert not failed, f"{name}:\n" + "\n".join(failed)
        assert sum(r.earned for r in results) == exercise.points


@pytest.mark.parametrize("name, old, new, check_name, feedback", PLANTED, ids=[p[0] for p in PLANTED])
def test_a_planted_mistake_fails_with_the_right_feedback(tmp_path, name, old, new, check_name, feedback):
    student = Student(plant(name, old, new, tmp_path), name)
    with pytest.raises(AssertionError) as failure:
        check(name, check_name).run(student, EXAMPLES)
    text = failure.value.text()
    assert re.search(feedback, text), text
    assert text.startswith("case: ") or check_name == "frozen" or "after step" in text
    assert "look at: " in text


def test_every_exercise_has_a_planted_mistake():
    assert {p[0] for p in PLANTED} == set(EXERCISES)


def test_a_student_error_names_the_line_of_their_file(tmp_path):
    (tmp_path / "relu_backward.py").write_text("def relu_backward(dy, y):\n    return dy * y.gradient\n")
    with pytest.raises(AssertionError, match=r"relu_backward raised AttributeError: .*\(line 2: return dy \* y.gradient\)"):
        check("relu_backward", "values").run(Student(tmp_path / "relu_backward.py", "relu_backward"), 2)


def test_grading_never_imports_or_opens_a_solution(tmp_path):
    """In a fresh process that records every file opened and every module imported, grading a
    stub and a correct copy touches nothing under minidl/exercises/solutions."""
    shutil.copy(SOLUTIONS / "im2col.py", tmp_path / "im2col.py")
    script = f"""
import sys
opened = []
sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" and args else None)
from pathlib import Path
from minidl.exercises import EXERCISES, STUBS, grade
mine = grade(EXERCISES["im2col"], Path({str(tmp_path / 'im2col.py')!r}), 3)
stub = grade(EXERCISES["relu_backward"], STUBS / "relu_backward.py", 3)
assert all(r.passed for r in mine) and not any(r.passed for r in stub)
bad = [p for p in opened if "exercises/solutions" in p.replace(chr(92), "/")]
bad += [m for m in sys.modules if m.startswith("minidl.exercises.solutions")]
print("TOUCHED", bad)
"""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "TOUCHED []" in out.stdout


def test_a_module_of_the_same_name_on_sys_path_does_not_stand_in_for_the_students_file(tmp_path, monkeypatch):
    """The pre-solved-package failure: a correct `relu_backward` module importable by name must
    not make an empty student file pass."""
    shutil.copy(SOLUTIONS / "relu_backward.py", tmp_path / "relu_backward.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    mine = tmp_path / "student"
    mine.mkdir()
    shutil.copy(STUBS / "relu_backward.py", mine / "relu_backward.py")
    results = grade(EXERCISES["relu_backward"], mine / "relu_backward.py", 3)
    assert not any(r.passed for r in results)


LESSON_OPS = {"im2col": "im2col", "conv2d_forward": "conv2d_forward", "col2im": "col2im",
              "conv2d_backward": "conv2d_backward", "relu_backward": "relu_backward",
              "max_pool2d_forward": "max_pool2d_forward", "max_pool2d_backward": "max_pool2d_backward",
              "batch_norm_forward": "batch_norm_forward_eval", "batch_norm_backward": "batch_norm_backward",
              "sgd_momentum_step": "sgd_momentum_step", "adam_step": "adam_step"}


@pytest.mark.parametrize("name", sorted(LESSON_OPS))
def test_the_lesson_run_trains_with_the_students_function(tmp_path, name):
    """A correct solution that counts its calls: the lesson check calls it (inside the engine,
    for the forward or backward of every batch), not minidl's own version."""
    fn = LESSON_OPS[name]
    source = (SOLUTIONS / f"{name}.py").read_text()
    source += (f"\nCALLS = []\n_{fn} = {fn}\n\n\ndef {fn}(*args, **kwargs):\n"
               f"    CALLS.append(1)\n    return _{fn}(*args, **kwargs)\n")
    (tmp_path / f"{name}.py").write_text(source)
    student = Student(tmp_path / f"{name}.py", name)
    check(name, "lesson").run(student, EXAMPLES)
    assert len(student.module.CALLS) >= 3


@pytest.mark.parametrize("got, words", [
    (lambda e: -e, "NEGATIVE"), (lambda e: 0.5 * e, "times 0.5"), (lambda e: e.T.copy(), "TRANSPOSE"),
    (lambda e: e.reshape(-1), "wrong shape"), (lambda e: e.astype(np.float32), "dtype float32"),
    (lambda e: np.zeros_like(e), "all zeros"),
])
def test_the_feedback_names_a_common_mistakes_pattern(got, words):
    from minidl.exercises.compare import assert_close
    expected = np.arange(1.0, 7.0).reshape(2, 3)
    with pytest.raises(AssertionError, match=words):
        assert_close("dx", got(expected), expected, dtype=np.float64)
