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
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="minidl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
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
    return int(modules[args.command].run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
