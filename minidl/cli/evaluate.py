"""``python -m minidl evaluate --model lab6 --dataset fashion-mnist --weights runs/lab6/best.npz``:
score saved weights on a dataset's test split, with the same preprocessing as ``train`` (images
brought to the model's size and channels, normalised with the training split's mean and std:
minidl.cli.train.prepare_data and model_for). Prints the loss, the accuracy and each class's
accuracy; --out also saves the confusion matrix and samples.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import minidl
from minidl import data as D
from minidl import plot
from minidl.cli.numbers import positive_int
from minidl.cli.train import DATASETS, MODELS, model_for, prepare_data
from minidl.train import evaluate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=list(MODELS), required=True)
    parser.add_argument("--dataset", choices=DATASETS, default="fashion-mnist")
    parser.add_argument("--weights", type=Path, required=True, help=".npz written by train")
    parser.add_argument("--batch-size", type=positive_int, default=512)
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="score at most N test images (the same ones train --limit N uses)")
    parser.add_argument("--seed", type=int, default=0, help="the seed train used with --limit")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", type=Path, default=None,
                        help="also write confusion_matrix.png and samples.png here")


def run(args: argparse.Namespace) -> int:
    try:
        state = minidl.load(args.weights)
        data = prepare_data(args.dataset, args.model, args.limit, args.seed)
    except (FileNotFoundError, ValueError) as err:    # DatasetNotFoundError included
        print(f"evaluate: {err}", file=sys.stderr)
        return 2
    x_test, y_test = data.test
    try:
        model, adapt = model_for(args.model, data)
    except ValueError as err:
        print(f"evaluate: {err}", file=sys.stderr)
        return 2
    try:
        model.load_state_dict(state)
    except KeyError as err:
        print(f"evaluate: {args.weights} does not hold weights for --model {args.model} on "
              f"{args.dataset} (trained with another --model or --dataset?)\n{err.args[0]}",
              file=sys.stderr)
        return 2
    result = evaluate(model, D.DataLoader(x_test, y_test, args.batch_size, transform=adapt),
                      device=args.device, progress=True)
    cm = result["confusion_matrix"]
    print(f"{args.model} ({args.weights}) on {args.dataset} test: accuracy "
          f"{result['accuracy']:.2%}, loss {result['loss']:.4f}, {result['num_samples']} images")
    width = max(len(c) for c in data.classes)
    for k, name in enumerate(data.classes):
        total = cm[k].sum()
        share = f"{cm[k, k] / total:7.2%}" if total else "    -  "
        print(f"  {name:<{width}}  {share}  ({cm[k, k]}/{total})")
    if args.out is not None:
        plot.confusion_matrix(cm, data.classes, args.out / "confusion_matrix.png")
        plot.image_grid(x_test, y_test, result["predictions"], data.classes,
                        args.out / "samples.png")
        print(f"wrote {args.out}/confusion_matrix.png and samples.png")
    return 0
