"""Command line: ``python -m minidl <command> ...`` (or ``minidl <command>``).

Each command lives in its own module under minidl/cli/ with ``add_arguments(parser)`` and
``run(args) -> int``; this file only dispatches.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "demo": ("minidl.cli.demo", "train a small CNN on the bundled digits (offline, about a minute)"),
    "train": ("minidl.cli.train", "train a model on a dataset, writing history, plots and the best checkpoint"),
    "evaluate": ("minidl.cli.evaluate", "evaluate a saved checkpoint on a dataset's test split"),
    "convert": ("minidl.cli.convert", "convert a PyTorch checkpoint into minidl's .npz weights"),
    "classify": ("minidl.cli.classify", "classify images with a zoo model: top-k classes and probabilities"),
    "predict": ("minidl.cli.predict", "classify images with a zoo model: top-k classes, probabilities and a figure"),
    "finetune": ("minidl.cli.finetune", "fine-tune a pretrained model on a dataset (features, head or all), writing a run folder"),
    "exercise": ("minidl.cli.exercise", "exercises: list, start NAME, check NAME|--all (an offline grader)"),
    "audit": ("minidl.cli.audit", "mutation audit: corrupt each hand-written backward, show the tests catch it"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage block), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv=None) -> int:
    """Run one command. Its errors (bad numbers or files, a device that is not there) print
    as one line ``minidl <command>: error: ...`` with exit status 2 instead of a traceback;
    Ctrl-C exits with 130."""
    parser = _Parser(prog="minidl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    modules = {}
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            modules[name] = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue                        # a command not built yet
        modules[name].add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    try:
        return int(modules[args.command].run(args) or 0)
    except (ValueError, OSError, ArithmeticError, RuntimeError, ImportError) as err:
        print(f"minidl {args.command}: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"minidl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
