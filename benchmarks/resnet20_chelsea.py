"""The published CIFAR-10 ResNets on scikit-image's photo of Chelsea the cat.

    python benchmarks/resnet20_chelsea.py [--depths 20 32 44 56] [--out benchmarks/results]

The photo is resized to 32x32 (skimage.transform.resize, anti_aliasing=True) and normalised as
the weights expect; each depth's weights are found or downloaded by minidl.pretrained. Prints
the top-3 classes with probabilities and the median time of one forward pass, and writes
resnet_chelsea.json.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import RESULTS, machine, print_table, time_call, write_json  # noqa: E402

from minidl import Tensor, no_grad  # noqa: E402
from minidl.models.resnet_cifar import CIFAR10_CLASSES, normalize, resnet_cifar  # noqa: E402
from minidl.pretrained import PRETRAINED  # noqa: E402


def chelsea_32() -> np.ndarray:
    """(32, 32, 3) RGB in [0, 1]."""
    from skimage import data, transform
    return transform.resize(data.chelsea(), (32, 32), anti_aliasing=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[20, 32, 44, 56])
    parser.add_argument("--repeat", type=int, default=5, help="forward passes timed per depth")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    x = Tensor(normalize(chelsea_32()))
    rows = [["model", "params", "1st", "2nd", "3rd", "forward ms"]]
    results = []
    for depth in args.depths:
        print(f"resnet{depth}: loading {PRETRAINED[f'resnet{depth}'].file}", flush=True)
        model = resnet_cifar(depth, pretrained=True)
        with no_grad():
            logits = model(x).numpy()[0].astype(np.float64)   # softmax in float64: 1 - p shows
            ms = time_call(lambda: model(x), "cpu", repeat=args.repeat)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        top = np.argsort(probs)[::-1][:3]
        top3 = [{"class": CIFAR10_CLASSES[i], "probability": float(probs[i])} for i in top]
        results.append({"model": f"resnet{depth}", "parameters": model.num_parameters(),
                        "top3": top3, "cat_probability": float(probs[CIFAR10_CLASSES.index("cat")]),
                        "forward_ms": ms})
        rows.append([f"resnet{depth}", f"{model.num_parameters():,}",
                     *[f"{t['class']} {t['probability']:.8f}" for t in top3], f"{ms:.1f}"])
    print_table(rows)
    path = write_json(args.out / "resnet_chelsea.json", {
        "input": "skimage.data.chelsea() resized to 32x32 (anti_aliasing=True), normalised per "
                 "minidl.models.resnet_cifar.normalize",
        "machine": machine(), "results": results})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
