"""Yosinski et al. (2014) on Fashion-MNIST: how transferable is each layer of a CNN between two
halves of the classes?

    python benchmarks/yosinski_fashion.py [--per-class 1000] [--epochs 8] [--seeds 3]
                                          [--budget-min 30] [--quick]

The paper's design at a size this machine can train. Fashion-MNIST's ten classes are split at
random into two halves, A and B (minidl.data.split_classes(10, seed=1): the first five of
np.random.default_rng(1).permutation(10) are A: T-shirt/top, Trouser, Coat, Sneaker, Bag; B:
Pullover, Dress, Sandal, Shirt, Ankle boot). Seed 1 is the first seed whose halves each hold two
of the four upper-body classes (T-shirt, Pullover, Coat, Shirt), the ones a CNN confuses, so
that neither half is easy (seed 0 gives B T-shirt, Trouser, Sandal, Bag, Ankle boot, which a
base net gets 98% right: no room for a curve). Both halves are the same domain (grey clothes on
black), so A -> B is a *similar* source and target. The network is minidl.models.layered_cnn:
five conv layers (3x3, BN, ReLU; 16-32-32-64-64 channels, 2x2 pools after conv1 and conv3), a
global average pool and a linear head: six trainable layers. For every seed:

  baseA, baseB   trained from scratch on A's (B's) training subset, scored on that half's test set
  BnB   k = 1..5: conv1..convk copied from baseB and frozen (BN statistics too), the rest
        re-initialised and trained on B
  BnB+  the same, but the copied layers are fine-tuned with everything else
  AnB / AnB+  the same with the layers copied from baseA

Every run trains the same number of epochs with SGD (momentum 0.9, weight decay 5e-4, lr 0.05
for every layer, as in the paper, cosine per step), batch 64, on the same balanced subset of
``--per-class`` images per class (subset seed = the run's seed) and is scored on a fixed
balanced test subset of B (or A for baseA). The epochs are planned from a timing of this machine
to fit --budget-min. Results are written after every run (results/yosinski_fashion.json, with
"complete": false until the end), then the figure (.png) and the paper's four findings checked
against the means and spreads: the BnB dip in the middle layers, BnB+ recovering it, AnB falling
with k, AnB+ at or above baseB.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import RESULTS, machine, print_table, write_json  # noqa: E402

import minidl  # noqa: E402
from minidl import Tensor, no_grad, optim  # noqa: E402
from minidl import functional as F  # noqa: E402
from minidl.data import DataLoader, class_subset, fashion_mnist, held_out, split_classes, subset  # noqa: E402
from minidl.models import layered_cnn  # noqa: E402
from minidl.train import evaluate, fit  # noqa: E402
from minidl.transfer import copy_weights, freeze, param_groups  # noqa: E402

DEPTH = 5                                   # conv layers; k = 1..DEPTH are copied
LAYERS = [f"conv{i}" for i in range(1, DEPTH + 1)]
# multiply-adds of each conv layer per image (28x28 input): for the frozen runs' cost estimate
MACS = np.array([28 * 28 * 9 * 16, 14 * 14 * 9 * 16 * 32, 14 * 14 * 9 * 32 * 32,
                 7 * 7 * 9 * 32 * 64, 7 * 7 * 9 * 64 * 64], dtype=float)
MOMENTUM, WEIGHT_DECAY, BATCH = 0.9, 5e-4, 64
VARIANTS = ("BnB", "BnB+", "AnB", "AnB+")
SPLIT_SEED = 1                              # see the docstring: neither half is easy
HOST = ("shared: a 2-core machine that other agents' jobs were using at the same time, so "
        "the seconds are loose (upper bounds)")


def log(*parts) -> None:
    print(*parts, flush=True)


def threads() -> dict:
    return {v: os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}


def command(argv) -> str:
    env = " ".join(f"{k}={v}" for k, v in threads().items())
    return f"{env} python " + shlex.join([f"benchmarks/{Path(sys.argv[0]).name}"]
                                         + list(argv if argv is not None else sys.argv[1:]))


class Halves:
    """Fashion-MNIST split into class halves A and B, normalised with the whole training set's
    mean and std, as (N, 1, 28, 28) float32; a fixed balanced test subset of each half."""

    def __init__(self, split_seed: int = SPLIT_SEED, test_per_class: int = 400):
        train, test = fashion_mnist("train"), fashion_mnist("test")
        self.classes = {"A": split_classes(10, split_seed)[0], "B": split_classes(10, split_seed)[1]}
        self.names = {h: [train.classes[c] for c in cs] for h, cs in self.classes.items()}
        self.mean = float(train.images.mean() / 255)
        self.std = float(train.images.std() / 255)
        self.train = {h: class_subset(train, cs) for h, cs in self.classes.items()}
        self.test = {}
        for h, cs in self.classes.items():
            part = subset(class_subset(test, cs), test_per_class, seed=1000)
            self.test[h] = (self.floats(part.images), part.labels)

    def floats(self, images) -> np.ndarray:
        return ((images.astype(np.float32) / 255 - self.mean) / self.std)[:, None]

    def training(self, half: str, per_class: int, seed: int):
        part = subset(self.train[half], per_class, seed=seed)
        return self.floats(part.images), part.labels

    def validation(self, half: str, per_class: int, seed: int):
        """per_class images of each class that training(half, n, seed) never draws (n up to the
        class's size minus per_class)."""
        part = held_out(self.train[half], per_class, seed=seed)
        return self.floats(part.images), part.labels


def train(model, groups, x, y, epochs: int, seed: int, batch: int = BATCH) -> float:
    """SGD with momentum and weight decay, cosine per step; every group keeps its own rate.
    Returns the last epoch's mean training loss."""
    opt = optim.SGD(groups, lr=groups[0]["lr"], momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    loader = DataLoader(x, y, batch, shuffle=True, seed=seed)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(loader))
    history = fit(model, opt, loader, epochs=epochs, scheduler=sched, scheduler_interval="step",
                  progress=False)
    if history.stop_reason is not None:
        raise RuntimeError(history.stop_reason)
    return float(np.mean(history.iteration_loss[-len(loader):]))


def accuracy(model, x, y) -> float:
    return evaluate(model, DataLoader(x, y, 250))["accuracy"]


def transplant(source, k: int, frozen: bool, seed: int, lr: float):
    """A fresh 5-class net (init from seed) with conv1..convk copied from source, frozen (BN
    statistics fixed) or left trainable; returns (model, optimizer groups at one rate)."""
    minidl.manual_seed(seed)
    model = layered_cnn(DEPTH, num_classes=5)
    if k:
        copy_weights(source, model, upto=LAYERS[k - 1])
        if frozen:
            freeze(model, upto=LAYERS[k - 1], bn="freeze")
    return model, param_groups(model, lr, head_lr_mult=1.0)


def measure() -> dict:
    """ms per image of a training step (batch 64) and of an eval forward (batch 250)."""
    model = layered_cnn(DEPTH, num_classes=5)
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32))
    y = Tensor(rng.integers(0, 5, BATCH))
    opt = optim.SGD(model.parameters(), lr=1e-3, momentum=MOMENTUM)
    steps = []
    for _ in range(6):
        t0 = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        steps.append(time.perf_counter() - t0)
    model.eval()
    xe = Tensor(rng.standard_normal((250, 1, 28, 28)).astype(np.float32))
    fwd = []
    for _ in range(3):
        t0 = time.perf_counter()
        with no_grad():
            model(xe)
        fwd.append(time.perf_counter() - t0)
    return {"train_s_per_image": float(np.median(steps[2:])) / BATCH,
            "forward_s_per_image": float(np.median(fwd[1:])) / 250,
            "load_avg_1min": os.getloadavg()[0]}


def frozen_cost(k: int) -> float:
    """A frozen-prefix run's time relative to a full one: the copied layers run forward only
    (a third of forward+backward), weighted by their share of the multiply-adds."""
    share = MACS[:k].sum() / MACS.sum()
    return 1 - share + share / 3


def plan(template: int, n_train: int, n_test: int, seeds: int, timing: dict, budget_s: float):
    """The largest epoch count <= template whose estimated time fits budget_s (at least 1)."""
    units = seeds * (2 + 2 * DEPTH + 2 * sum(frozen_cost(k) for k in range(1, DEPTH + 1)))
    runs = seeds * (2 + 4 * DEPTH)
    def cost(e):
        return units * n_train * e * timing["train_s_per_image"] + runs * n_test * timing["forward_s_per_image"]
    epochs = template
    while epochs > 1 and cost(epochs) > budget_s:
        epochs -= 1
    return epochs, cost(epochs)


def summarise(cells) -> dict:
    """{variant: {k: {mean, std, n}}} with "baseB" and "baseA" at k = 0."""
    out = {}
    for c in cells:
        out.setdefault(c["variant"], {}).setdefault(str(c["k"]), []).append(c["accuracy"])
    return {v: {k: {"mean": float(np.mean(a)), "std": float(np.std(a)), "n": len(a)}
                for k, a in ks.items()} for v, ks in out.items()}


def findings(curves: dict) -> dict:
    """The paper's four findings, each judged on the means against the spread over seeds
    (tolerance: the largest std of the cells involved, at least 0.003)."""
    if "baseB" not in curves or any(len(curves.get(v, {})) < DEPTH for v in VARIANTS):
        return {}
    base = curves["baseB"]["0"]
    ks = [str(k) for k in range(1, DEPTH + 1)]
    mean = {v: np.array([curves[v][k]["mean"] for k in ks]) for v in VARIANTS}
    std = {v: np.array([curves[v][k]["std"] for k in ks]) for v in VARIANTS}
    tol = max(0.003, base["std"], *(s.max() for s in std.values()))
    middle = slice(1, DEPTH - 1)                               # k = 2..4
    dip_k = int(np.argmin(mean["BnB"][middle])) + 2
    dip = float(base["mean"] - mean["BnB"][dip_k - 1])
    anb_slope = float(np.polyfit(np.arange(1, DEPTH + 1), mean["AnB"], 1)[0])
    return {
        "tolerance": tol,
        "bnb_dip": {"holds": bool(dip > tol),
                    "deepest_k": dip_k, "below_base": dip,
                    "text": f"BnB falls below baseB in the middle layers (deepest at k={dip_k}: "
                            f"{mean['BnB'][dip_k - 1]:.4f} vs {base['mean']:.4f})"},
        "bnb_plus_recovers": {"holds": bool(np.all(mean["BnB+"] >= base["mean"] - tol)),
                              "worst": float(base["mean"] - mean["BnB+"].min()),
                              "text": "BnB+ stays at baseB's level at every k"},
        "anb_falls_with_k": {"holds": bool(anb_slope < 0 and mean["AnB"][-1] < mean["AnB"][0] - tol),
                             "slope_per_layer": anb_slope,
                             "first": float(mean["AnB"][0]), "last": float(mean["AnB"][-1]),
                             "text": "AnB falls as more of A's layers are copied frozen"},
        "anb_plus_at_or_above_base": {"holds": bool(np.all(mean["AnB+"] >= base["mean"] - tol)),
                                      "mean_gain": float(mean["AnB+"].mean() - base["mean"]),
                                      "text": "AnB+ at or above baseB at every k"},
    }


def plot(curves: dict, path: Path, title: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.2, 4.6))
    ax = fig.add_subplot()
    base = curves["baseB"]["0"]
    ax.axhspan(base["mean"] - base["std"], base["mean"] + base["std"], color="gray", alpha=0.2)
    ax.axhline(base["mean"], color="gray", ls="--", label="baseB (from scratch)")
    styles = {"BnB": ("tab:blue", "o", "-"), "BnB+": ("tab:blue", "s", ":"),
              "AnB": ("tab:red", "o", "-"), "AnB+": ("tab:red", "s", ":")}
    for v, (color, marker, ls) in styles.items():
        ks = sorted(int(k) for k in curves.get(v, {}))
        if ks:
            offset = {"BnB": -0.09, "BnB+": -0.03, "AnB": 0.03, "AnB+": 0.09}[v]
            ax.errorbar(np.array(ks) + offset, [curves[v][str(k)]["mean"] for k in ks],
                        yerr=[curves[v][str(k)]["std"] for k in ks], color=color, marker=marker,
                        ls=ls, capsize=3, label=v + (" (fine-tuned)" if v.endswith("+") else " (frozen)"))
    ax.set_xticks(range(DEPTH + 1), labels=["0\nbase"] + [f"{k}\n{LAYERS[k - 1]}" for k in range(1, DEPTH + 1)])
    ax.set_xlabel("k = layers copied (conv1..convk)")
    ax.set_ylabel("test accuracy on B")
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--per-class", type=int, default=1000, help="training images per class")
    p.add_argument("--epochs", type=int, default=8, help="epochs before fitting the budget")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--test-per-class", type=int, default=400)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--split-seed", type=int, default=SPLIT_SEED)
    p.add_argument("--budget-min", type=float, default=30.0)
    p.add_argument("--quick", action="store_true", help="a tiny version (about a minute)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.quick:
        args.per_class, args.epochs, args.seeds, args.test_per_class, args.budget_min = 60, 2, 1, 40, 2.0

    started = time.perf_counter()
    timing = measure()
    data = Halves(args.split_seed, args.test_per_class)
    n_train, n_test = 5 * args.per_class, 5 * args.test_per_class
    epochs, estimate = plan(args.epochs, n_train, n_test, args.seeds, timing, 60 * args.budget_min)
    log(f"A = {data.names['A']}, B = {data.names['B']}")
    log(f"timing: {1e3 * timing['train_s_per_image']:.2f} ms/image training, "
        f"{1e3 * timing['forward_s_per_image']:.2f} ms/image forward (load {timing['load_avg_1min']:.1f}); "
        f"plan: {args.seeds} seeds x {2 + 4 * DEPTH} runs of {epochs} epochs on {n_train} images, "
        f"~{estimate / 60:.0f} min (budget {args.budget_min:g})")
    name = "yosinski_fashion_quick" if args.quick else "yosinski_fashion"
    out = args.out / f"{name}.json"
    config = {"split_seed": args.split_seed, "classes": {h: [int(c) for c in cs] for h, cs in data.classes.items()},
              "class_names": data.names, "per_class": args.per_class, "train_images": n_train,
              "test_images_per_half": n_test, "epochs": epochs, "epochs_template": args.epochs,
              "seeds": args.seeds, "lr": args.lr, "copied_lr": "same as the rest (Yosinski)",
              "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY, "batch_size": BATCH,
              "schedule": "cosine per step", "network": "layered_cnn(5): " + ", ".join(LAYERS) + ", pool, linear",
              "normalize": {"mean": data.mean, "std": data.std}, "threads": threads()}
    cells: list[dict] = []

    def record(**cell):
        cells.append(cell)
        curves = summarise(cells)
        write_json(out, {"study": "Yosinski et al. 2014 on Fashion-MNIST class halves A/B (similar target)",
                         "command": command(argv), "host": HOST, "complete": False, "config": config,
                         "timing": timing, "estimate_s": estimate,
                         "elapsed_s": time.perf_counter() - started, "machine": machine(),
                         "curves": curves, "findings": findings(curves), "cells": cells})

    for seed in range(args.seeds):
        bases = {}
        for half in ("A", "B"):
            t0 = time.perf_counter()
            x, y = data.training(half, args.per_class, seed)
            model, groups = transplant(None, 0, False, seed, args.lr)
            loss = train(model, groups, x, y, epochs, seed)
            acc = accuracy(model, *data.test[half])
            bases[half] = model
            record(variant=f"base{half}", k=0, seed=seed, accuracy=acc, train_loss=loss,
                   seconds=time.perf_counter() - t0)
            log(f"seed {seed} base{half}: {acc:.4f} ({time.perf_counter() - t0:.0f}s)")
        x, y = data.training("B", args.per_class, seed)
        for k in range(1, DEPTH + 1):
            for variant in VARIANTS:
                t0 = time.perf_counter()
                source = bases[variant[0]]
                model, groups = transplant(source, k, not variant.endswith("+"), seed + 100, args.lr)
                loss = train(model, groups, x, y, epochs, seed)
                acc = accuracy(model, *data.test["B"])
                record(variant=variant, k=k, seed=seed, accuracy=acc, train_loss=loss,
                       trainable_parameters=model.num_parameters(trainable_only=True),
                       seconds=time.perf_counter() - t0)
                log(f"seed {seed} {variant} k={k}: {acc:.4f} ({time.perf_counter() - t0:.0f}s)")

    curves = summarise(cells)
    found = findings(curves)
    rows = [["k"] + ["baseB"] + list(VARIANTS)]
    for k in range(1, DEPTH + 1):
        rows.append([str(k), f"{curves['baseB']['0']['mean']:.4f} ± {curves['baseB']['0']['std']:.4f}"]
                    + [f"{curves[v][str(k)]['mean']:.4f} ± {curves[v][str(k)]['std']:.4f}" for v in VARIANTS])
    print()
    print_table(rows)
    log(f"baseA on A: {curves['baseA']['0']['mean']:.4f} ± {curves['baseA']['0']['std']:.4f}")
    for key, f in found.items():
        if key != "tolerance":
            log(f"  {'HOLDS' if f['holds'] else 'fails'}: {f['text']}")
    elapsed = time.perf_counter() - started
    write_json(out, {"study": "Yosinski et al. 2014 on Fashion-MNIST class halves A/B (similar target)",
                     "command": command(argv), "host": HOST, "complete": True, "config": config,
                     "timing": timing, "estimate_s": estimate, "elapsed_s": elapsed,
                     "load_avg_1min_end": os.getloadavg()[0], "machine": machine(),
                     "curves": curves, "findings": found, "cells": cells})
    plot(curves, args.out / f"{name}.png",
         f"Fashion-MNIST halves, B = {', '.join(data.names['B'])}: {n_train} images, {epochs} epochs, "
         f"mean ± std of {args.seeds} seeds")
    log(f"total {elapsed / 60:.1f} min; wrote {out} and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
