"""``python -m minidl audit [--fast | --only ID ...] [--report FILE]``: the mutation audit.

Corrupts each hand-written backward pass in turn (sign flipped, a term or factor dropped, an
operand transposed, the gradients swapped, stride or padding changed in the backward only) and
runs minidl's gradient tests against each mutant in a fresh process (minidl.exercises.audit).
Needs a source checkout (the tests). Exit status: 0 every mutant caught, 1 some survived or
could not be run, 2 an unknown mutant.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--fast", action="store_true", help="only the few mutants CI runs, each on the test file that catches it")
    which.add_argument("--only", nargs="+", metavar="ID", help="only these mutants")
    which.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--report", type=Path, help="write the Markdown report here")
    parser.add_argument("--tests", nargs="+", help="the test paths to run (default: the gradient tests)")


def run(args: argparse.Namespace) -> int:
    from ..exercises import audit, mutants     # the audit runs pytest (the [test] extra)
    every = mutants.mutants()
    if args.list:
        for m in every:
            print(f"{m.id:50s} {m.description}")
        return 0
    tests = args.tests or audit.TESTS
    runs = [(m, tests) for m in every]
    try:
        if args.fast:
            runs = [(mutants.by_id(i), args.tests or (path,)) for i, path in audit.FAST.items()]
        elif args.only:
            runs = [(mutants.by_id(i), tests) for i in args.only]
    except KeyError as err:
        print(f"audit: {err.args[0]}", file=sys.stderr)
        return 2
    if not (audit.ROOT / "tests").is_dir():
        print(f"audit: no tests/ beside {audit.ROOT / 'minidl'}: run it from a source checkout", file=sys.stderr)
        return 2
    verdicts = audit.audit(runs, progress=lambda line: print(line, flush=True))
    caught = sum(v.outcome == "caught" for v in verdicts)
    print(f"caught {caught} of {len(verdicts)} mutants")
    if args.report:
        args.report.write_text(audit.markdown(verdicts, tests))
        print(f"report: {args.report}")
    return 0 if caught == len(verdicts) else 1
