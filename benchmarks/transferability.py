"""How transferable is each stage of a CIFAR-10 ResNet-20 to Fashion-MNIST? (after Yosinski et al.,
"How transferable are features in deep neural networks?", 2014)

    python benchmarks/transferability.py [--quick] [--budget-min 20] [--size 1000]

For k = 0..4 the first k stages (none, stem, +layer1, +layer2, +layer3) are copied from the
pretrained network into a freshly initialised ResNet-20 with a new 10-class head; the rest is
trained on one fixed, balanced Fashion-MNIST subset. The copied stages are either

  frozen      (Yosinski's AnB: requires_grad off, BatchNorm statistics fixed), or
  fine-tuned  (AnB+: trained with everything else, at the same rate unless --copied-lr-mult)

k = 0 is training from scratch (the same run for both curves); k = 4 frozen is a linear probe
on the pretrained features, k = 4 fine-tuned is full fine-tuning. Inputs are adapted as in
transfer_modes.py (pad to 32x32, three channels, the source's normalisation). Epochs are chosen
from a timing of this machine to fit --budget-min. Writes results/transferability.json and .png.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import RESULTS, machine, print_table, write_json  # noqa: E402
from transfer_modes import (MOMENTUM, WEIGHT_DECAY, Target, accuracy, log, measure, plot_accuracy,  # noqa: E402
                            train_sgd)

import minidl  # noqa: E402
from minidl.models.resnet_cifar import resnet_cifar  # noqa: E402
from minidl.transfer import copy_weights, freeze, param_groups, replace_head  # noqa: E402

STAGES = ("stem", "layer1", "layer2", "layer3")
VARIANTS = ("frozen", "fine-tuned")


def build(source, k: int, variant: str, seed: int, lr: float, copied_lr_mult: float):
    """A ResNet-20 with the first k stages copied from source, the rest (and the head) random;
    returns (model, optimizer groups)."""
    minidl.manual_seed(seed)
    model = resnet_cifar(20, pretrained=False)
    replace_head(model, 10)
    if k == 0:
        return model, [{"params": list(model.parameters()), "lr": lr, "name": "all"}]
    copy_weights(source, model, upto=STAGES[k - 1])
    if variant == "frozen":
        freeze(model, upto=STAGES[k - 1], bn="freeze")
        return model, param_groups(model, lr, head_lr_mult=1.0)
    groups = param_groups(model, lr, head_lr_mult=1.0, decay=1.0)
    for g in groups:                      # copied stages may learn more slowly
        if g["name"] in STAGES[:k]:
            g["lr"] = lr * copied_lr_mult
    return model, groups


def runs(seeds: int) -> list[tuple[int, str, int]]:
    """(k, variant, seed) for every distinct run: k = 0 once per seed."""
    out = []
    for seed in range(seeds):
        out.append((0, "scratch", seed))
        out += [(k, v, seed) for k in range(1, 5) for v in VARIANTS]
    return out


def relative_cost(k: int, variant: str) -> float:
    """A run's time per image relative to training every layer. The three stages cost about the
    same (channels double as the map shrinks 4x), and a backward pass about twice a forward
    pass; a frozen prefix of k stages is run forward only."""
    if variant != "frozen":
        return 1.0
    return 1 / 3 + 2 / 3 * (4 - k) / 3


def plan_epochs(template: int, size: int, seeds: int, n_test: int, timing, budget_s) -> tuple[int, float]:
    """The largest epoch count <= template whose estimate fits budget_s (at least 1)."""
    plan = runs(seeds)
    fixed = len(plan) * n_test * timing["forward_s_per_image"]
    units = sum(relative_cost(k, v) for k, v, _ in plan)
    def cost(e):
        return fixed + units * size * e * timing["train_s_per_image"]
    epochs = template
    while epochs > 1 and cost(epochs) > budget_s:
        epochs -= 1
    return epochs, cost(epochs)


def plot(curves, path: Path, title: str) -> None:
    ks = list(range(5))
    series = [(f"copied stages {variant}", marker, [curves[variant][k]["mean"] for k in ks],
               [curves[variant][k]["std"] for k in ks]) for variant, marker in zip(VARIANTS, "os")]
    plot_accuracy(path, title, ks, series, "k = pretrained stages copied",
                  ["0\nnone", "1\nstem", "2\n+layer1", "3\n+layer2", "4\n+layer3"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=1000, help="labelled target images (balanced)")
    p.add_argument("--epochs", type=int, default=8, help="epochs before fitting the budget")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--test-per-class", type=int, default=200)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--copied-lr-mult", type=float, default=1.0,
                   help="rate of fine-tuned copied stages relative to --lr (Yosinski: 1)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--adapt", choices=("pad", "resize"), default="pad")
    p.add_argument("--budget-min", type=float, default=20.0)
    p.add_argument("--quick", action="store_true", help="a tiny version (about a minute)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.epochs, args.seeds, args.test_per_class, args.budget_min = 50, 2, 1, 20, 3.0
    if args.size % 10:
        p.error("--size must be a multiple of 10")

    started = time.perf_counter()
    log("timing one ResNet-20 training step and forward pass on this machine ...")
    timing = measure(args.batch_size)
    n_test = 10 * args.test_per_class
    epochs, estimate = plan_epochs(args.epochs, args.size, args.seeds, n_test, timing,
                                   60 * args.budget_min)
    log(f"  training {1e3 * timing['train_s_per_image']:.1f} ms/image, forward "
        f"{1e3 * timing['forward_s_per_image']:.1f} ms/image; plan: {len(runs(args.seeds))} runs "
        f"of {epochs} epochs on {args.size} images, at most {estimate / 60:.1f} min")

    target = Target(args.test_per_class, args.adapt)
    idx = target.train_indices(args.size, seed=0)          # one fixed subset for every run
    x, y = target.adapted(idx), target.train.labels[idx]
    source = resnet_cifar(20, pretrained=True)
    cells = []
    for k, variant, seed in runs(args.seeds):
        t0 = time.perf_counter()
        model, groups = build(source, k, variant, seed, args.lr, args.copied_lr_mult)
        trainable = model.num_parameters(trainable_only=True)
        loss = train_sgd(model, groups, x, y, epochs, args.batch_size, seed,
                         f"k={k} {variant} seed {seed}")
        acc = accuracy(model, target.test_x, target.test_y)
        cells.append({"k": k, "variant": variant, "seed": seed, "accuracy": acc, "train_loss": loss,
                      "trainable_parameters": trainable, "seconds": time.perf_counter() - t0})
        log(f"k={k} {variant} seed {seed}: {acc:.4f} ({trainable:,} trainable, "
            f"{cells[-1]['seconds']:.0f}s)")

    curves = {}
    for variant in VARIANTS:
        for k in range(5):
            accs = [c["accuracy"] for c in cells
                    if c["k"] == k and (c["variant"] == variant or k == 0)]
            curves.setdefault(variant, {})[k] = {"mean": float(np.mean(accs)),
                                                 "std": float(np.std(accs)), "n": len(accs)}
    elapsed = time.perf_counter() - started
    rows = [["k", "copied", "frozen", "fine-tuned"]]
    for k in range(5):
        rows.append([str(k), "none" if k == 0 else "+".join(STAGES[:k])] +
                    [f"{curves[v][k]['mean']:.3f} ± {curves[v][k]['std']:.3f}" for v in VARIANTS])
    print()
    print_table(rows)
    log(f"\n{args.size} training images, {n_test} test images, {epochs} epochs, {args.seeds} "
        f"seed(s); total {elapsed / 60:.1f} min")

    name = "transferability_quick" if args.quick else "transferability"
    payload = {"study": "transferability of ResNet-20 (CIFAR-10) stages to Fashion-MNIST",
               "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
               "config": {"size": args.size, "epochs": epochs, "epochs_template": args.epochs,
                          "seeds": args.seeds, "test_images": n_test, "lr": args.lr,
                          "copied_lr_mult": args.copied_lr_mult, "batch_size": args.batch_size,
                          "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY, "adapt": args.adapt,
                          "stages": list(STAGES)},
               "timing": timing, "estimate_s": estimate, "elapsed_s": elapsed, "machine": machine(),
               "curves": {v: {str(k): c for k, c in ks.items()} for v, ks in curves.items()},
               "cells": cells}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / f"{name}.json", payload)
    plot(curves, args.out / f"{name}.png",
         f"ResNet-20 stages copied from CIFAR-10, {args.size} Fashion-MNIST images, "
         f"{args.seeds} seed(s)")
    log(f"wrote {args.out / (name + '.json')} and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
