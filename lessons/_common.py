"""Plumbing shared by the lessons: command line, output folder, seeding, claims, figures.

Every lesson starts with

    lesson = start("01_backprop_by_hand", __doc__)

which reads ``--quick`` and ``--out DIR`` from the command line (or, in a notebook, from the
environment variable MINIDL_LESSON_ARGS), makes the output folder (default
runs/lessons/<name>), seeds minidl and returns the settings. Every lesson is also a jupytext
"percent" script: its ``# %%`` cells run unchanged in a Jupyter kernel started in lessons/,
where figures show inline. A lesson states what it
expects to see with ``claim(condition, text)``: the claim is printed, and if it is false the
lesson stops with an AssertionError, so a lesson whose story stops being true fails CI.
"""
from __future__ import annotations

import argparse
import ast
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib


def in_notebook() -> bool:
    """Whether this runs inside a Jupyter kernel (IPython with a kernel attached)."""
    shell = sys.modules.get("IPython")
    ip = shell.get_ipython() if shell is not None else None
    return ip is not None and getattr(ip, "kernel", None) is not None


if not in_notebook():
    matplotlib.use("Agg")  # a script only writes PNG files and never opens a window; Jupyter
    #                        keeps its inline backend, and save() shows each figure in the cell

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minidl  # noqa: E402
import numba  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402  (installed with scikit-learn)

SEED = 0
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Lesson:
    """What a lesson needs to know about how it was started."""

    name: str
    quick: bool                      # --quick: smaller runs, same story (for CI)
    out: Path                        # where figures go
    rng: np.random.Generator         # the lesson's own seeded generator for data
    started: float = field(default_factory=time.perf_counter)

    def pick(self, default, quick):
        """The default-mode value, or the --quick one."""
        return quick if self.quick else default

    def save(self, fig, filename: str) -> Path:
        """Write a matplotlib figure as PNG into the output folder and close it."""
        path = self.out / filename
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        if in_notebook():
            from IPython.display import display
            display(fig)
        plt.close(fig)
        print(f"figure: {path}")
        return path

    def show_image(self, path: Path) -> None:
        """In a notebook, show an image file the lesson wrote (a script has printed its path)."""
        if in_notebook() and path.suffix == ".png":
            from IPython.display import Image, display
            display(Image(filename=str(path)))

    def done(self) -> None:
        print(f"\nAll claims held. {self.name} took {time.perf_counter() - self.started:.1f} s; "
              f"figures are in {self.out}")


def lesson_title(name: str, doc: str | None = None) -> str:
    """The first line of lessons/<name>.py's docstring (read from the file, since in a notebook
    ``__doc__`` is IPython's), else of ``doc``, else the name."""
    path = Path(__file__).resolve().parent / f"{name}.py"
    if path.exists():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or doc
    return (doc or name).strip().splitlines()[0]


def lesson_arguments(argv=None) -> list[str]:
    """The lesson's options: MINIDL_LESSON_ARGS (e.g. "--quick", the way to pass them to a
    notebook) followed by ``argv`` (default: the command line)."""
    return shlex.split(os.environ.get("MINIDL_LESSON_ARGS", "")) + list(sys.argv[1:] if argv is None else argv)


def start(name: str, doc: str | None = None, argv=None) -> Lesson:
    """Parse --quick/--out, make the output folder, seed every random choice, print the title.

    Options it does not know are ignored (a Jupyter kernel is started with ``-f <file>``)."""
    first_line = lesson_title(name, doc)
    parser = argparse.ArgumentParser(prog=f"python lessons/{name}.py", description=first_line,
                                     allow_abbrev=False)
    parser.add_argument("--quick", action="store_true",
                        help="a smaller, faster run of the same lesson (used by the tests)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "lessons" / name,
                        help="folder for the figures (default: %(default)s)")
    args, unknown = parser.parse_known_args(lesson_arguments(argv))
    if unknown and not in_notebook():
        print(f"(ignoring options this lesson does not take: {' '.join(unknown)})")
    args.out.mkdir(parents=True, exist_ok=True)
    # The lessons' matrices are small: one BLAS thread is faster than several (on a busy 2-core
    # machine, 2 threads were ~90x slower for a 20x256 @ 256x256 product), and it keeps the
    # floating-point sums, hence the printed numbers, the same on every machine.
    threadpool_limits(1)
    # Numba's kernels likewise: on a shared machine a descheduled worker thread stalls every
    # call (lesson 14 took 22 s with two threads, 3.7 s with one). Lesson 13 times both.
    numba.set_num_threads(1)
    minidl.manual_seed(SEED)
    np.set_printoptions(precision=3, suppress=True, linewidth=110)
    banner = f"Lesson {name}" + ("  (--quick)" if args.quick else "")
    print(banner)
    print("=" * len(banner))
    print(first_line)
    return Lesson(name, args.quick, args.out, np.random.default_rng(SEED))


def section(title: str) -> None:
    """Print a heading so the output reads alongside the code."""
    print(f"\n-- {title} " + "-" * max(3, 70 - len(title)))


def claim(condition, text: str) -> None:
    """State a claim the lesson makes; raise AssertionError if it does not hold."""
    if not bool(condition):
        print(f"claim: {text} ... FAILED")
        raise AssertionError(f"lesson claim failed: {text}")
    print(f"claim: {text} ... OK")


def claim_on(data: str, actual: str, condition, text: str) -> None:
    """A claim measured on data set ``data``: checked when the lesson runs on it, only printed
    when a fallback data set ``actual`` stands in (where the finding need not hold)."""
    if actual == data:
        claim(condition, text)
    else:
        print(f"({data} finding, not checked on {actual}: {'holds' if condition else 'does not hold'}) {text}")


def transfer_target(lesson: Lesson, per_class_train: int, per_class_test: int):
    """The target task of the transfer lessons (10-12): class-balanced Fashion-MNIST images,
    made to look like the CIFAR-10 ResNet's input (28x28 gray zero-padded to 32x32, copied to
    three channels, normalised with CIFAR-10's statistics: what minidl.transfer.adapt_images
    does, here through minidl.data.prepare).
    Falls back to scikit-learn's 8x8 digits (resized to 32x32) when Fashion-MNIST is missing.

    Returns (x_train, y_train, x_test, y_test, class names, data set name).
    """
    from minidl.data import (Compose, DatasetNotFoundError, GrayToRGB, PadTo, Resize, digits,
                             fashion_mnist, prepare, subset)
    from minidl.models.resnet_cifar import CIFAR10_MEAN, CIFAR10_STD

    try:
        train, test, name, method = (fashion_mnist("train", download=False),
                                     fashion_mnist("test", download=False), "Fashion-MNIST", "pad")
    except DatasetNotFoundError as err:
        print(f"NOTE: Fashion-MNIST is not on this machine, so this run uses scikit-learn's 8x8 "
              f"digits, resized to 32x32.\n{err}")
        train, test, name, method = digits("train"), digits("test"), "digits", "resize"
        per_class_train, per_class_test = min(per_class_train, 100), min(per_class_test, 30)
    train, test = subset(train, per_class_train, seed=0), subset(test, per_class_test, seed=1)
    print(f"target: {name}, {len(train)} training and {len(test)} test images "
          f"({per_class_train} and {per_class_test} per class), adapted by {method} to (3, 32, 32)")
    size = PadTo(32) if method == "pad" else Resize(32)
    data = prepare(train, test, transform=Compose([size, GrayToRGB()]),
                   stats=(CIFAR10_MEAN, CIFAR10_STD))          # the source network's statistics
    return (*data.train, *data.test, data.classes, name)


def with_weights(lesson: Lesson, build):
    """build() -> a network with published weights, e.g. ``lambda: resnet_cifar(20,
    pretrained=True)``. Offline without a copy (no MINIDL_WEIGHTS folder holding one), the rest
    of the lesson cannot run: print minidl's one-message explanation (where it looked, what to
    set), end the lesson cleanly and exit with status 0, as the CLI answers it without a
    traceback."""
    from minidl.pretrained import WeightsNotFoundError

    try:
        return build()
    except WeightsNotFoundError as err:
        print(f"\nNOTE: the rest of {lesson.name} needs published weights that are not on this "
              f"machine, so it stops here.\n{err}")
        lesson.done()
        raise SystemExit(0) from None


def class_halves(lesson: Lesson, per_class_train: int, per_class_test: int, split_seed: int = 1):
    """A *similar* source and target (lessons 10 and 12): Fashion-MNIST's ten classes split at
    random into halves A and B (minidl.data.split_classes(10, seed=1): A = T-shirt/top, Trouser,
    Coat, Sneaker, Bag; B = Pullover, Dress, Sandal, Shirt, Ankle boot; the split of
    benchmarks/yosinski_fashion.py). Same domain, different classes. Balanced subsets, images
    (N, 1, 28, 28) normalised with the whole training split's mean and std.
    Falls back to scikit-learn's 8x8 digits (split the same way) when Fashion-MNIST is missing.

    Returns ({"A": (x_train, y_train, x_test, y_test, class names), "B": ...}, data set name).
    """
    from minidl.data import (DatasetNotFoundError, class_subset, digits, fashion_mnist, split_classes,
                             subset, to_float)

    try:
        train, test, name = fashion_mnist("train", download=False), fashion_mnist("test", download=False), \
            "Fashion-MNIST"
    except DatasetNotFoundError as err:
        print(f"NOTE: Fashion-MNIST is not on this machine, so this part uses scikit-learn's 8x8 "
              f"digits.\n{err}")
        train, test, name = digits("train"), digits("test"), "digits"
        per_class_train, per_class_test = min(per_class_train, 100), min(per_class_test, 30)
    pixels = to_float(train.images)
    mean, std = float(pixels.mean()), float(pixels.std())
    halves = {}
    for half, classes in zip("AB", split_classes(10, split_seed)):
        tr = subset(class_subset(train, classes), per_class_train, seed=0)
        te = subset(class_subset(test, classes), per_class_test, seed=1)
        halves[half] = ((to_float(tr.images) - mean) / std, tr.labels,
                        (to_float(te.images) - mean) / std, te.labels, tr.classes)
        print(f"half {half} of {name}: {', '.join(tr.classes)}; {len(tr)} training and {len(te)} "
              f"test images")
    return halves, name
