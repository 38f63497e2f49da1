"""Grading: run an exercise's checks on a student's file, and report the results as text,
as a points table and as JUnit XML (what a class's CI shows per test)."""
from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

from .core import CheckFailed, CheckResult, Exercise, Student

EXAMPLES = 25          # hypothesis-drawn cases per check that draws cases


def grade(exercise: Exercise, path: Path, examples: int = EXAMPLES) -> list[CheckResult]:
    """Every check of ``exercise`` on the student's file ``path``; a check that fails earns 0."""
    student = Student(path, exercise.name)
    results = []
    for check in exercise.checks:
        start = time.perf_counter()
        try:
            check.run(student, examples)
            failure = None
        except CheckFailed as err:
            failure = err
        results.append(CheckResult(exercise.name, check.name, check.points,
                                   0 if failure else check.points, time.perf_counter() - start, failure))
    return results


def report(results: list[CheckResult]) -> str:
    """One line per check (PASS/FAIL, points, seconds), each failure's feedback indented below."""
    lines = []
    for r in results:
        verdict = "PASS" if r.passed else "FAIL"
        lines.append(f"{verdict} {r.exercise} / {r.check}: {r.earned}/{r.points} points ({r.seconds:.1f} s)")
        if r.failure is not None:
            lines += ["    " + line for line in r.failure.text().splitlines()]
    earned, total = sum(r.earned for r in results), sum(r.points for r in results)
    lines.append(f"score: {earned}/{total} points")
    return "\n".join(lines)


def points_table(exercises) -> str:
    """The Markdown table of exercises, their lessons, checks and points."""
    rows = ["| exercise | lesson | what you write | checks (points) | points |", "|---|---|---|---|---|"]
    for ex in exercises:
        checks = ", ".join(f"{c.name} ({c.points})" for c in ex.checks)
        rows.append(f"| `{ex.name}` | {ex.lesson} | {ex.title} | {checks} | {ex.points} |")
    rows.append(f"| **total** | | | | **{sum(ex.points for ex in exercises)}** |")
    return "\n".join(rows)


def write_junit(results: list[CheckResult], path: Path) -> None:
    """JUnit XML: one testsuite per exercise, one testcase per check (its points in the name)."""
    root = ET.Element("testsuites", name="minidl exercises")
    suites: dict[str, ET.Element] = {}
    for r in results:
        suite = suites.get(r.exercise)
        if suite is None:
            suite = suites[r.exercise] = ET.SubElement(root, "testsuite", name=r.exercise)
        case = ET.SubElement(suite, "testcase", classname=f"exercises.{r.exercise}",
                             name=f"{r.check} ({r.points} points)", time=f"{r.seconds:.3f}")
        if r.failure is not None:
            ET.SubElement(case, "failure", message=r.failure.message.splitlines()[0]).text = r.failure.text()
    for name, suite in suites.items():
        mine = [r for r in results if r.exercise == name]
        suite.set("tests", str(len(mine)))
        suite.set("failures", str(sum(not r.passed for r in mine)))
        suite.set("points", f"{sum(r.earned for r in mine)}/{sum(r.points for r in mine)}")
    root.set("tests", str(len(results)))
    root.set("failures", str(sum(not r.passed for r in results)))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
