"""The pieces of an exercise: the student's file, the checks that grade it, their results.

A student's file is loaded from its path (``Student``), never imported by module name, so no
solution on ``sys.path`` can stand in for it. Each ``Check`` calls the student's functions
through ``Student.call``, which turns any exception into a ``CheckFailed`` naming the function,
the line of the student's file and what to look at.
"""
from __future__ import annotations

import importlib.util
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


class CheckFailed(AssertionError):
    """A check's verdict: ``message`` says what went wrong, ``hint`` what to look at."""

    def __init__(self, message: str, hint: str = "", case: str = ""):
        self.message, self.hint, self.case = message, hint, case
        super().__init__(self.text())

    def text(self) -> str:
        lines = ([f"case: {self.case}"] if self.case else []) + [self.message]
        return "\n".join(lines + ([f"look at: {self.hint}"] if self.hint else []))

    def with_case(self, case: str) -> "CheckFailed":
        """The same verdict, naming the case it failed on (the first one named is kept)."""
        return self if self.case else CheckFailed(self.message, self.hint, case)


class NotWritten(CheckFailed):
    """The student's function still raises NotImplementedError (or is missing)."""


class Student:
    """The functions a student wrote in ``path`` (a copy of the exercise's stub)."""

    def __init__(self, path: Path, exercise: str):
        self.path, self.exercise = Path(path), exercise
        self.module, self.load_error = None, None
        self.load_hint = "the file must load with plain `python FILE`"
        if not self.path.is_file():
            self.load_error = f"no file {self.path}"
            self.load_hint = f"run `python -m minidl exercise start {exercise} --dir {self.path.parent}` first"
            return
        spec = importlib.util.spec_from_file_location(f"student_{exercise}", self.path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as err:  # a syntax error, a failing import: every check reports it
            self.load_error = f"{self.path} does not load: {type(err).__name__}: {err}{self._where(err)}"
            return
        self.module = module

    def function(self, name: str) -> Callable:
        """The student's ``name`` (a function or class), or a NotWritten verdict."""
        if self.load_error:
            raise NotWritten(self.load_error, self.load_hint)
        found = getattr(self.module, name, None)
        if found is None:
            raise NotWritten(f"{self.path.name} defines no {name}", "keep the stub's names and signatures")
        return found

    def call(self, name: str, *args, **kwargs):
        """Call the student's ``name``; an exception it raises becomes a CheckFailed."""
        return self.run(name, self.function(name), *args, **kwargs)

    def run(self, label: str, fn: Callable, *args, **kwargs):
        """``fn(*args, **kwargs)``, code of the student's (``label`` names it in the verdict)."""
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            raise NotWritten(f"{label} is not written yet (it raises NotImplementedError)",
                             f"replace the body of {label} in {self.path.name}; its docstring has "
                             "the shapes and the equation") from None
        except CheckFailed:
            raise
        except Exception as err:
            raise CheckFailed(f"{label} raised {type(err).__name__}: {err}{self._where(err)}",
                              "the shapes in the docstring; print the shapes of your arrays") from None

    def wrap(self, name: str) -> Callable:
        """The student's ``name`` as a function that raises CheckFailed instead of its errors:
        what an op's dispatch runs in place of minidl's own version."""
        self.function(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def _where(self, err: BaseException) -> str:
        frames = [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename) == self.path]
        if not frames and isinstance(err, SyntaxError) and err.lineno:
            return f" (line {err.lineno})"
        return f" (line {frames[-1].lineno}: {frames[-1].line})" if frames else ""


@dataclass(frozen=True)
class Check:
    """One graded property: ``run(student, examples)`` returns quietly or raises CheckFailed.
    ``examples``: how many hypothesis-drawn cases a check that draws cases tries."""

    name: str
    points: int
    what: str
    run: Callable[[Student, int], None]


@dataclass(frozen=True)
class Exercise:
    """A stub the student fills in (``lessons/exercises/<name>.py``) and the checks that grade it."""

    name: str
    title: str
    lesson: str
    functions: tuple[str, ...]
    checks: tuple[Check, ...]

    @property
    def points(self) -> int:
        return sum(c.points for c in self.checks)


@dataclass
class CheckResult:
    exercise: str
    check: str
    points: int
    earned: int
    seconds: float
    failure: CheckFailed | None = field(default=None)

    @property
    def passed(self) -> bool:
        return self.failure is None
