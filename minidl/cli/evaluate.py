"""``python -m minidl evaluate --model lab6 --dataset fashion-mnist --weights runs/lab6/best.npz``:
score weights on a dataset's test split, with the same preprocessing as ``train`` and
``finetune`` (minidl.cli.train.prepare_data and model_for): images normalised with the training
split's mean and std, brought to the model's input -- zero-padded to 32x32 or resized for the
small models (lab6 28x28, digits-cnn 8x8, the CIFAR ResNets 32x32), resized batch by batch for
the ImageNet ones (224x224; Inception-v3 299x299) -- and the gray channel copied to three for
the RGB models. Prints the loss, the accuracy and each class's accuracy; --out also saves the
confusion matrix and samples.

MODEL is any architecture of the zoo. --weights is any weights file (a run's best.npz, a PyTorch
checkpoint as published, a converted .npz or .safetensors) whose head has the dataset's class
count; without it, the published weights (minidl.cli.weights), which fit only a 10-class
dataset and were not trained on these images: a baseline, not a score.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from minidl import data as D
from minidl import plot
from minidl.cli.numbers import positive_int
from minidl.cli.train import DATASETS, MAX_IMAGE_SIZE, model_for, prepare_data
from minidl.cli.weights import adapt_to_torchvision
from minidl.models.zoo import ARCHITECTURES
from minidl.pretrained import WeightsNotFoundError, has_weights, load_weights, pretrained_path
from minidl.train import evaluate

# the default batch: 512 small images, 32 ImageNet-sized ones (their activations are ~50x larger)
BATCH_SIZE = {"small": 512, "large": 32}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=sorted(ARCHITECTURES), required=True)
    parser.add_argument("--dataset", choices=DATASETS, default="fashion-mnist")
    parser.add_argument("--weights", type=Path, default=None,
                        help="a run's best.npz, or any checkpoint / converted weights of the model "
                             "(default: the published ones)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help=f"default {BATCH_SIZE['small']} ({BATCH_SIZE['large']} for the ImageNet models)")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="score at most N test images (the same ones train --limit N uses)")
    parser.add_argument("--seed", type=int, default=0, help="the seed train used with --limit")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", type=Path, default=None,
                        help="also write confusion_matrix.png and samples.png here")


def run(args: argparse.Namespace) -> int:
    if args.weights is not None and not args.weights.is_file():
        print(f"evaluate: --weights {args.weights}: no such file", file=sys.stderr)
        return 2
    if args.weights is None and not has_weights(args.model):
        print(f"evaluate: {args.model} has no published weights in minidl; pass --weights FILE",
              file=sys.stderr)
        return 2
    try:                                # found (or downloaded) before the data and the model
        weights = args.weights or pretrained_path(args.model)
    except WeightsNotFoundError as err:
        print(f"evaluate: {err}", file=sys.stderr)
        return 2
    try:
        data = prepare_data(args.dataset, args.model, args.limit, args.seed, val_fraction=0.0)
        model, adapt = model_for(args.model, data)
    except (FileNotFoundError, ValueError) as err:    # DatasetNotFoundError included
        print(f"evaluate: {err}", file=sys.stderr)
        return 2
    x_test, y_test = data.test
    source = args.weights or f"published {args.model} weights"
    try:
        load_weights(model, weights)
    except (ValueError, OSError) as err:
        print(f"evaluate: {weights} does not hold weights for --model {args.model} on "
              f"{args.dataset} ({len(data.classes)} classes; trained with another --model or "
              f"--dataset?)\n{err}", file=sys.stderr)
        return 2
    adapt_to_torchvision(model, args.model, args.weights)
    large = (ARCHITECTURES[args.model].image_size or 0) > MAX_IMAGE_SIZE
    batch_size = args.batch_size or BATCH_SIZE["large" if large else "small"]
    result = evaluate(model, D.DataLoader(x_test, y_test, batch_size, transform=adapt),
                      device=args.device, progress=True)
    cm = result["confusion_matrix"]
    print(f"{args.model} ({source}) on {args.dataset} test: accuracy "
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
