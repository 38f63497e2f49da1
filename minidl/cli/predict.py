"""``python -m minidl predict MODEL IMAGE... [--weights FILE] [--top 5] [--out predictions.png]``:
classify images with a zoo model, printing each one's top-k classes with their probabilities and
drawing a figure (each image beside its top-k bars).

MODEL is any architecture of minidl.models.zoo. Weights (minidl.cli.weights): --weights FILE (a
PyTorch checkpoint as published, a .npz or .safetensors from ``convert``, a train or finetune
run's best.npz), else the published ones (the CIFAR ResNets', downloaded if needed;
torchvision's ImageNet checkpoints or their converted copies, found in $MINIDL_WEIGHTS, the
cache or the shared folder). Missing weights or images end in one message, exit status 2.
Preprocessing: minidl.cli.images (the published weights' own, or the run's). Class names: the
run's, else ImageNet's, CIFAR-10's, Fashion-MNIST's or the digits' (minidl.models.classes).
``classify`` is this command without the figure by default.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import minidl
from minidl import functional as F
from minidl.models.classes import class_names
from minidl.models.zoo import ARCHITECTURES
from minidl.pretrained import WeightsNotFoundError

from .images import model_input
from .numbers import positive_int
from .weights import model_with_weights, run_meta

MODELS = sorted(ARCHITECTURES)


def add_arguments(parser: argparse.ArgumentParser, figure: Path | None = Path("predictions.png")) -> None:
    parser.add_argument("model", choices=MODELS, help="an architecture of the zoo")
    parser.add_argument("images", type=Path, nargs="+", metavar="IMAGE",
                        help="image files (PNG, JPEG, ...)")
    parser.add_argument("--weights", type=Path, default=None,
                        help="weights: original checkpoint, converted .npz/.safetensors, or a run's "
                             "best.npz (default: the published ones)")
    parser.add_argument("--num-classes", type=positive_int, default=None,
                        help="classes of the weights' head (default: read from the weights)")
    parser.add_argument("--top", type=positive_int, default=5, help="how many classes to show")
    parser.add_argument("--out", type=Path, default=figure,
                        help=f"the figure to write (default: {figure or 'none'})")


def figure(shown: np.ndarray, paths, tops, path: Path) -> None:
    """One row per image: the image as read, and its top-k classes as horizontal bars."""
    from matplotlib.figure import Figure
    rows, k = len(shown), max(len(t) for t in tops)
    fig = Figure(figsize=(8, 1.0 + 0.35 * k * rows + 0.6 * rows), dpi=100, layout="constrained")
    axes = fig.subplots(rows, 2, squeeze=False, gridspec_kw={"width_ratios": [1, 1.6]})
    for (ax_image, ax_bars), image, name, top in zip(axes, shown, paths, tops):
        ax_image.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        ax_image.set_title(Path(name).name, fontsize=9)
        ax_image.axis("off")
        labels, probs = [n for n, _ in top][::-1], [p for _, p in top][::-1]
        ax_bars.barh(range(len(top)), probs, color="tab:blue")
        ax_bars.set_yticks(range(len(top)), labels, fontsize=8)
        ax_bars.set_xlim(0, 1)
        ax_bars.set_xlabel("probability", fontsize=8)
        for y, p in enumerate(probs):
            inside = p > 0.85                   # the label goes inside a long bar, in white
            ax_bars.text(p - 0.01 if inside else p + 0.01, y, f"{p:.1%}", va="center", fontsize=8,
                         ha="right" if inside else "left", color="white" if inside else "black")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=fig.dpi, format="png")


def top_classes(probs: np.ndarray, names: list[str], top: int) -> list[list[tuple[str, float]]]:
    """Each row's top classes, [(name, probability), ...] most probable first."""
    return [[(names[k], float(p[k])) for k in np.argsort(-p, kind="stable")[:top]] for p in probs]


def run(args: argparse.Namespace, command: str = "predict") -> int:
    meta = run_meta(args.weights)
    try:
        x, shown = model_input(args.model, args.images, meta)
        model, _ = model_with_weights(args.model, args.weights, args.num_classes)
    except WeightsNotFoundError as err:
        print(f"{command}: {err}", file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError, ImportError) as err:   # unreadable image or weights
        print(f"{command}: {err}", file=sys.stderr)
        return 2
    with minidl.no_grad():
        probs = F.softmax(model(minidl.Tensor(x)), axis=1).numpy()
    num_classes = probs.shape[1]
    names = (list(meta["classes"]) if meta and len(meta["classes"]) == num_classes
             else class_names(args.model, num_classes))
    tops = top_classes(probs, names, args.top)
    size = "x".join(map(str, x.shape[2:]))
    for path, top in zip(args.images, tops):
        print(f"{args.model} on {path} ({size}):")
        for name, p in top:
            print(f"  {name:<12} {p:7.2%}")
    if args.out is not None:
        figure(shown, args.images, tops, args.out)
        print(f"wrote {args.out}")
    return 0
