"""``python -m minidl classify MODEL IMAGE... [--weights FILE] [--top 5]``: the predict command
(minidl.cli.predict) under its first name, printing only; ``--out FIG.png`` draws the figure too.
"""
from __future__ import annotations

import argparse

from . import predict
from .images import load_image

__all__ = ["add_arguments", "load_image", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    predict.add_arguments(parser, figure=None)


def run(args: argparse.Namespace) -> int:
    return predict.run(args, command="classify")
