"""``python -m minidl convert CHECKPOINT OUT.npz [--arch NAME]``: PyTorch checkpoint -> .npz.

The file is read first (a missing, empty or damaged one is reported as such), then its
architecture is taken from --arch, its SHA-256 (a published checkpoint) or its name; a file
named like a published checkpoint whose SHA-256 differs is warned about. Weights holding NaN
or infinity are refused unless --allow-nonfinite. Prints the conversion report. Exit status:
0 converted, 1 the weights do not fit the architecture (nothing written), 2 the checkpoint
could not be read or the arch not told.
"""
from __future__ import annotations

import argparse
import sys

from ..models.zoo import ARCHITECTURES, build_model
from ..pretrained import (CheckpointError, convert_checkpoint, guess_arch, known_name_mismatch,
                          load_torch_state_dict)
from ..serialization.safetensors_io import SafetensorsFileError, is_safetensors, load_safetensors
from .numbers import positive_int


def _rename(text: str) -> tuple[str, str]:
    old, sep, new = text.partition("=")
    if not sep or not old:
        raise argparse.ArgumentTypeError(f"expected OLD=NEW (key prefixes), got {text!r}")
    return old, new


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a torch.save file (legacy or zip format)")
    parser.add_argument("output", help="the .npz file to write")
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES),
                        help="target architecture (default: from a known checkpoint's hash or the file name)")
    parser.add_argument("--num-classes", type=positive_int, default=None,
                        help="classes of the model's head (default: the architecture's own)")
    parser.add_argument("--rename", type=_rename, action="append", default=[], metavar="OLD=NEW",
                        help="rename checkpoint keys starting with OLD to start with NEW (repeatable)")
    parser.add_argument("--allow-nonfinite", action="store_true",
                        help="write weights holding NaN or infinity instead of refusing them")


def run(args) -> int:
    try:
        state = (load_safetensors(args.checkpoint) if is_safetensors(args.checkpoint)
                 else load_torch_state_dict(args.checkpoint))
    except (CheckpointError, OSError, SafetensorsFileError, ImportError) as exc:
        print(f"convert: cannot read {args.checkpoint}: {exc}", file=sys.stderr)
        return 2
    warning = known_name_mismatch(args.checkpoint)
    if warning:
        print(f"convert: warning: {warning}", file=sys.stderr)
    arch = args.arch or guess_arch(args.checkpoint, ARCHITECTURES)
    if arch is None:
        print(f"convert: cannot tell the architecture of {args.checkpoint} from its hash or name; "
              f"pass --arch (one of {', '.join(sorted(ARCHITECTURES))})", file=sys.stderr)
        return 2
    try:
        report = convert_checkpoint(args.checkpoint, args.output, build_model(arch, args.num_classes),
                                    renames=dict(args.rename), name=arch,
                                    allow_nonfinite=args.allow_nonfinite, state_dict=state)
    except (CheckpointError, OSError, ValueError) as exc:
        print(f"convert: {exc}", file=sys.stderr)
        return 2
    print(report)
    if not report.ok:
        print(f"convert: {args.checkpoint} does not fit {report.model}; nothing written", file=sys.stderr)
        return 1
    return 0
