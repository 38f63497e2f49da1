"""Exercises with an offline grader: students write the course's ops, minidl's checks grade them.

The stubs are ``lessons/exercises/<name>.py`` (signature, shapes and the lecture's equation in
each docstring, bodies raising NotImplementedError); ``python -m minidl exercise start NAME``
copies one for the student, ``... check NAME`` grades the copy: the student's function runs in
place of minidl's (through the op's dispatch where the op has one), against minidl's reference
on hypothesis-drawn cases, through float64 gradcheck, and in a short lesson run.

The grader reads only the student's file: reference solutions (``solutions/``) exist for the
tests of the grader and are never imported by grading.
"""
from __future__ import annotations

from pathlib import Path

from . import ex_activation, ex_conv, ex_freeze, ex_norm, ex_optim, ex_pool, ex_training
from .core import Check, CheckFailed, CheckResult, Exercise, NotWritten, Student
from .grading import EXAMPLES, grade, points_table, report, write_junit

__all__ = ["EXAMPLES", "EXERCISES", "STUBS", "Check", "CheckFailed", "CheckResult", "Exercise",
           "NotWritten", "Student", "grade", "points_table", "report", "write_junit"]

# in course order
EXERCISES: dict[str, Exercise] = {ex.name: ex for ex in (
    *ex_training.EXERCISES[:1], *ex_activation.EXERCISES, *ex_training.EXERCISES[1:2], *ex_conv.EXERCISES,
    *ex_pool.EXERCISES, *ex_norm.EXERCISES, *ex_training.EXERCISES[2:], *ex_optim.EXERCISES,
    *ex_freeze.EXERCISES)}

STUBS = Path(__file__).resolve().parents[2] / "lessons" / "exercises"
