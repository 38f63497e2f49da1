"""``python -m minidl exercise list | start NAME [--dir DIR] | check NAME|--all [--dir DIR]``.

start copies the stub lessons/exercises/NAME.py into DIR (default ./exercises) for the student
to edit; check grades DIR/NAME.py (every exercise with --all) and prints each check's verdict,
points and feedback. --junit FILE writes a JUnit XML report for a class's CI.
Exit status: 0 every check passed, 1 some check failed, 2 a usage error (unknown exercise,
no stub, a file that start would overwrite).
"""
from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
from pathlib import Path

# the grader draws its cases with hypothesis (the [exercises] or [test] extra): imported only
# when the command runs, so the other commands work without it
NEEDS = "the exercises need hypothesis: pip install -e '.[exercises]'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    listing = sub.add_parser("list", help="the exercises, their lessons and points")
    listing.add_argument("--markdown", action="store_true", help="the points table as Markdown")
    start = sub.add_parser("start", help="copy an exercise's stub into DIR to edit")
    start.add_argument("name")
    start.add_argument("--dir", type=Path, default=Path("exercises"), help="where your files live (./exercises)")
    start.add_argument("--force", action="store_true", help="overwrite an existing file")
    check = sub.add_parser("check", help="grade your DIR/NAME.py (or every exercise with --all)")
    which = check.add_mutually_exclusive_group(required=True)
    which.add_argument("name", nargs="?")
    which.add_argument("--all", action="store_true", help="grade every exercise")
    check.add_argument("--dir", type=Path, default=Path("exercises"), help="where your files live (./exercises)")
    check.add_argument("--junit", type=Path, metavar="FILE", help="also write a JUnit XML report")
    check.add_argument("--examples", type=int, default=25, help="hypothesis-drawn cases per check (default 25)")


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("hypothesis") is None:
        print(f"exercise: {NEEDS}", file=sys.stderr)
        return 2
    from ..exercises import EXERCISES, points_table
    name = getattr(args, "name", None)
    if name is not None and name not in EXERCISES:
        print(f"exercise: no exercise {name!r}; `python -m minidl exercise list` lists them", file=sys.stderr)
        return 2
    if args.action == "list":
        if args.markdown:
            print(points_table(EXERCISES.values()))
            return 0
        for ex in EXERCISES.values():
            print(f"{ex.name:32s} {ex.points:3d} points  lesson {ex.lesson:9s} {ex.title}")
        print(f"{'total':32s} {sum(ex.points for ex in EXERCISES.values()):3d} points")
        return 0
    if args.action == "start":
        return start(args.name, args.dir, args.force)
    return check(list(EXERCISES) if args.all else [args.name], args)


def check(names: list[str], args: argparse.Namespace) -> int:
    from ..exercises import EXERCISES, grade, report, write_junit
    results = []
    for name in names:
        graded = grade(EXERCISES[name], args.dir / f"{name}.py", args.examples)
        print(report(graded), flush=True)
        results += graded
    if len(names) > 1:
        earned, total = sum(r.earned for r in results), sum(r.points for r in results)
        print(f"total: {earned}/{total} points, {sum(r.passed for r in results)} of {len(results)} checks passed")
    if args.junit:
        write_junit(results, args.junit)
        print(f"JUnit report: {args.junit}")
    return 0 if all(r.passed for r in results) else 1


def start(name: str, folder: Path, force: bool) -> int:
    from ..exercises import EXERCISES, STUBS
    stub, target = STUBS / f"{name}.py", folder / f"{name}.py"
    if not stub.is_file():
        print(f"exercise start: no stub {stub} (the exercises ship with minidl's source tree: "
              f"install it with `pip install -e .` from a checkout)", file=sys.stderr)
        return 2
    if target.exists() and not force:
        print(f"exercise start: {target} exists; edit it, or pass --force to start over", file=sys.stderr)
        return 2
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(stub, target)
    ex = EXERCISES[name]
    print(f"copied {stub.name} to {target}: write {', '.join(ex.functions)} ({ex.title}, lesson {ex.lesson}), then\n"
          f"    python -m minidl exercise check {name} --dir {folder}")
    return 0
