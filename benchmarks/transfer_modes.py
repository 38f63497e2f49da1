"""Four ways to use a CIFAR-10 ResNet-20 for Fashion-MNIST, as the labelled target set grows.

    python benchmarks/transfer_modes.py [--quick] [--budget-min 35] [--sizes 100 1000 10000]

Source: ResNet-20 with the published CIFAR-10 weights. Target: Fashion-MNIST, each 28x28 gray
image zero-padded to 32x32, copied to three channels and normalised with the source's statistics
(minidl.transfer.GrayToRGBAdapter). For every target-set size (balanced subsets, nested per seed)
and seed, four modes are scored on one fixed, balanced test subset:

  scratch      the same architecture from random weights, every layer trained
  features     the frozen network's 64-d pooled features + logistic regression (minidl's,
               with scikit-learn's on the same features recorded as a reference)
  head         fine-tuning only a new linear head; the body is frozen with fixed BatchNorm
               statistics and there is no augmentation, so its output for an image never
               changes: it is computed once (the same features as above) and the head is
               trained on it with exactly the schedule the head gets in "all"
  all          fine-tuning everything: body at the base rate, new head at 10x

Training is SGD with momentum 0.9, weight decay 5e-4 and a per-step cosine schedule. The time
budget is planned first: one ResNet-20 forward+backward and one forward are timed on this
machine, and the epochs per size are scaled down (never below one) until the estimate fits
``--budget-min``. BLAS and Numba run on one thread each (unless OPENBLAS_NUM_THREADS /
NUMBA_NUM_THREADS are set): on a shared 2-core machine their worker threads stall for seconds
when another process holds a core. Writes results/transfer_modes.json and .png.
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

import minidl  # noqa: E402
from minidl import Tensor, no_grad, optim  # noqa: E402
from minidl import functional as F  # noqa: E402
from minidl.data import DataLoader, Dataset, fashion_mnist, subset  # noqa: E402
from minidl.models.resnet_cifar import resnet_cifar  # noqa: E402
from minidl.train import evaluate, fit  # noqa: E402
from minidl.transfer import (LogisticRegression, adapt_images, extract_features, freeze,  # noqa: E402
                             param_groups, replace_head, sklearn_logistic_regression)

MODES = ("scratch", "features", "head", "all")
MOMENTUM, WEIGHT_DECAY = 0.9, 5e-4


def log(*parts) -> None:
    print(*parts, flush=True)


# ----- data ----------------------------------------------------------------------------------------
def subset_indices(data: Dataset, n_per_class: int, seed: int) -> np.ndarray:
    """The indices minidl.data.subset picks (it is run on a dataset whose 'images' are indices)."""
    return subset(Dataset(np.arange(len(data)), data.labels, data.classes), n_per_class, seed).images


class Target:
    """Fashion-MNIST train/test, a fixed balanced test subset, adapted on demand."""

    def __init__(self, test_per_class: int, method: str):
        self.train = fashion_mnist("train")
        self.test = fashion_mnist("test")
        self.method = method
        idx = subset_indices(self.test, test_per_class, seed=1000)
        self.test_x = adapt_images(self.test.images[idx], method)
        self.test_y = self.test.labels[idx]

    def train_indices(self, size: int, seed: int) -> np.ndarray:
        return subset_indices(self.train, size // 10, seed)

    def adapted(self, idx: np.ndarray) -> np.ndarray:
        return adapt_images(self.train.images[idx], self.method)


# ----- training ------------------------------------------------------------------------------------
def batch_size_for(size: int) -> int:
    return 32 if size <= 100 else 64


def train_sgd(model, groups, x, y, epochs: int, batch_size: int, seed: int, desc: str) -> float:
    """SGD (momentum, weight decay) with a cosine schedule per step over all epochs; every
    group keeps its own starting rate. Returns the last epoch's mean training loss (per batch)."""
    log(desc)
    opt = optim.SGD(groups, lr=groups[0]["lr"], momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    loader = DataLoader(x, y, batch_size, shuffle=True, seed=seed)
    cosine = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(loader))
    history = fit(model, opt, loader, epochs=epochs, scheduler=cosine, scheduler_interval="step")
    if history.stop_reason is not None:
        raise RuntimeError(f"{desc}: {history.stop_reason}")
    return float(np.mean(history.iteration_loss[-len(loader):]))


def accuracy(model, x, y) -> float:
    return evaluate(model, DataLoader(x, y, 256), progress=False)["accuracy"]


def head_accuracy(head, feats, y) -> float:
    with no_grad():
        return float((head(Tensor(feats)).numpy().argmax(1) == y).mean())


# ----- planning ------------------------------------------------------------------------------------
def measure(batch: int = 64) -> dict:
    """Seconds per image of a ResNet-20 training step (forward+backward+SGD, batch ``batch``)
    and of an eval-mode forward pass (batch 256), best of a few after a warm-up."""
    model = resnet_cifar(20, pretrained=True)
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((batch, 3, 32, 32)).astype(np.float32))
    y = Tensor(rng.integers(0, 10, batch))
    opt = optim.SGD(model.parameters(), lr=1e-4, momentum=MOMENTUM)
    model.train()
    steps = []
    for _ in range(4):
        t0 = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        steps.append(time.perf_counter() - t0)
    model.eval()
    xe = Tensor(rng.standard_normal((256, 3, 32, 32)).astype(np.float32))
    forwards = []
    for _ in range(3):
        t0 = time.perf_counter()
        with no_grad():
            model(xe)
        forwards.append(time.perf_counter() - t0)
    return {"train_step_batch": batch, "train_s_per_image": min(steps[1:]) / batch,
            "forward_s_per_image": min(forwards[1:]) / 256,
            "train_step_s": steps, "forward_256_s": forwards}


def plan(sizes, epochs, seeds, n_test, timing, budget_s) -> tuple[list[int], float]:
    """Epochs per size (template scaled down to fit budget_s, at least 1) and the estimate."""
    t_train, t_fwd = timing["train_s_per_image"], timing["forward_s_per_image"]
    fixed = (seeds * max(sizes) + n_test) * t_fwd          # features (cached across sizes)
    fixed += 2 * seeds * len(sizes) * n_test * t_fwd        # scoring scratch and all
    fixed += 5.0 * seeds * len(sizes)                       # logistic regressions, heads
    def train_cost(eps):
        return 2 * seeds * sum(s * e for s, e in zip(sizes, eps)) * t_train
    scale = 1.0
    while scale > 0.01 and fixed + train_cost([max(1, int(e * scale)) for e in epochs]) > budget_s:
        scale *= 0.9
    chosen = [max(1, int(e * scale)) for e in epochs]
    return chosen, fixed + train_cost(chosen)


# ----- the study ----------------------------------------------------------------------------------
def new_head(model, seed: int):
    """A fresh 10-class head, drawn from the same seed in "head" and "all"."""
    minidl.manual_seed(seed)
    return replace_head(model, 10)


def check_head_shortcut(target, seed: int) -> float:
    """Training only the head on cached features is exact only if the frozen body computes the
    same in training mode as during extraction: compare the two on a few images."""
    model = resnet_cifar(20, pretrained=True)
    head = new_head(model, seed)
    freeze(model, upto="layer3", bn="freeze")
    x = target.test_x[:16]
    feats = extract_features(model, "pool", x, flatten=True, progress=False)
    model.train()
    with no_grad():
        full = model(Tensor(x)).numpy()
    gap = float(np.abs(full - head(Tensor(feats)).numpy()).max())
    if gap > 1e-4:
        raise RuntimeError(f"the frozen body is not fixed in train mode (logits differ by {gap})")
    return gap


# ----- the study ------------------------------------------------------------------------------------
def run_seed(target, seed, sizes, epochs, args, cells) -> None:
    """All sizes and modes for one seed (features of the largest subset computed once)."""
    source = resnet_cifar(20, pretrained=True)
    largest = target.train_indices(max(sizes), seed)
    t0 = time.perf_counter()
    feats_all = extract_features(source, "pool", target.adapted(largest), flatten=True,
                                 desc=f"seed {seed}: pooled features of {len(largest)} images")
    test_feats = extract_features(source, "pool", target.test_x, flatten=True,
                                  desc=f"seed {seed}: test features")
    log(f"seed {seed}: features in {time.perf_counter() - t0:.0f}s")
    row_of = {int(i): r for r, i in enumerate(largest)}
    for size, ep in zip(sizes, epochs):
        idx = target.train_indices(size, seed)
        y = target.train.labels[idx]
        feats = feats_all[[row_of[int(i)] for i in idx]]
        bs = batch_size_for(size)
        tag = f"seed {seed} size {size}"

        t0 = time.perf_counter()                           # features + logistic regression
        l2 = 1.0 / size                                    # = scikit-learn's default C = 1
        clf = LogisticRegression(l2=l2, lr=0.05, epochs=args.lr_epochs, seed=seed).fit(feats, y)
        sk = sklearn_logistic_regression(feats, y, l2=l2)
        cells.append({"mode": "features", "size": size, "seed": seed,
                      "accuracy": clf.score(test_feats, target.test_y),
                      "sklearn_accuracy": float(sk.score(test_feats, target.test_y)),
                      "train_accuracy": clf.score(feats, y), "seconds": time.perf_counter() - t0})
        log(f"{tag} features: {cells[-1]['accuracy']:.4f} (scikit-learn {cells[-1]['sklearn_accuracy']:.4f})")

        t0 = time.perf_counter()                           # head only, on the frozen body
        head = new_head(resnet_cifar(20, pretrained=True), seed)
        loss = train_sgd(head, [{"params": list(head.parameters()), "lr": args.lr * 10}],
                         feats, y, ep, bs, seed, f"{tag} head")
        cells.append({"mode": "head", "size": size, "seed": seed, "epochs": ep,
                      "accuracy": head_accuracy(head, test_feats, target.test_y),
                      "train_loss": loss, "seconds": time.perf_counter() - t0})
        log(f"{tag} head: {cells[-1]['accuracy']:.4f}")

        x = target.adapted(idx)
        for mode in ("all", "scratch"):
            t0 = time.perf_counter()
            if mode == "all":
                model = resnet_cifar(20, pretrained=True)
                new_head(model, seed)
                groups = param_groups(model, args.lr, head="linear", head_lr_mult=10.0)
            else:
                minidl.manual_seed(seed)
                model = resnet_cifar(20, pretrained=False)
                groups = [{"params": list(model.parameters()), "lr": args.scratch_lr, "name": "all"}]
            loss = train_sgd(model, groups, x, y, ep, bs, seed, f"{tag} {mode}")
            cells.append({"mode": mode, "size": size, "seed": seed, "epochs": ep,
                          "accuracy": accuracy(model, target.test_x, target.test_y),
                          "train_loss": loss, "seconds": time.perf_counter() - t0})
            log(f"{tag} {mode}: {cells[-1]['accuracy']:.4f} ({cells[-1]['seconds']:.0f}s)")


def summarise(cells, sizes) -> dict:
    table = {}
    for mode in MODES:
        for size in sizes:
            accs = [c["accuracy"] for c in cells if c["mode"] == mode and c["size"] == size]
            if accs:
                table.setdefault(mode, {})[str(size)] = {
                    "mean": float(np.mean(accs)), "std": float(np.std(accs)), "n": len(accs)}
    return table


def plot_accuracy(path: Path, title: str, x, series, xlabel: str, xticklabels, log_x: bool = False) -> None:
    """Mean test accuracy against x, one-std error bars, for each (label, marker, means, stds)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    for label, marker, mean, std in series:
        ax.errorbar(x, mean, yerr=std, marker=marker, capsize=3, label=label)
    if log_x:
        ax.set_xscale("log")
    ax.set_xticks(x, labels=xticklabels)
    if log_x:
        ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot(table, sizes, path: Path, title: str) -> None:
    labels = {"scratch": "from scratch", "features": "features + logistic regression",
              "head": "fine-tune head only", "all": "fine-tune all (head 10x)"}
    series = [(labels[mode], "o", [table[mode][str(s)]["mean"] for s in sizes],
               [table[mode][str(s)]["std"] for s in sizes]) for mode in MODES if mode in table]
    plot_accuracy(path, title, sizes, series, "labelled target images", [str(s) for s in sizes], log_x=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    p.add_argument("--epochs", type=int, nargs="+", default=[30, 8, 1],
                   help="epochs per size before fitting the budget (one per --sizes entry)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--test-per-class", type=int, default=200)
    p.add_argument("--lr", type=float, default=0.01, help="fine-tuning base rate (head: 10x)")
    p.add_argument("--scratch-lr", type=float, default=0.05)
    p.add_argument("--lr-epochs", type=int, default=300, help="logistic-regression full-batch steps")
    p.add_argument("--adapt", choices=("pad", "resize"), default="pad")
    p.add_argument("--budget-min", type=float, default=35.0)
    p.add_argument("--quick", action="store_true", help="a tiny version (about two minutes)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.epochs, args.seeds, args.test_per_class = [20, 50], [3, 2], 2, 20
        args.lr_epochs, args.budget_min = 100, 5.0
    if len(args.epochs) != len(args.sizes) or any(s % 10 for s in args.sizes):
        p.error("--epochs needs one value per --sizes entry, and sizes must be multiples of 10")

    started = time.perf_counter()
    log("timing one ResNet-20 training step and forward pass on this machine ...")
    timing = measure()
    log(f"  training {1e3 * timing['train_s_per_image']:.1f} ms/image (batch 64), "
        f"forward {1e3 * timing['forward_s_per_image']:.1f} ms/image")
    n_test = 10 * args.test_per_class
    epochs, estimate = plan(args.sizes, args.epochs, args.seeds, n_test, timing, 60 * args.budget_min)
    log(f"plan: sizes {args.sizes}, epochs {epochs}, {args.seeds} seeds, {n_test} test images; "
        f"estimated {estimate / 60:.1f} min (budget {args.budget_min:g} min)")

    target = Target(args.test_per_class, args.adapt)
    gap = check_head_shortcut(target, 0)
    log(f"head-only shortcut checked: frozen model in train mode vs head on cached features, "
        f"max logit difference {gap:.1e}")
    cells: list[dict] = []
    for seed in range(args.seeds):
        run_seed(target, seed, args.sizes, epochs, args, cells)
    table = summarise(cells, args.sizes)
    elapsed = time.perf_counter() - started

    rows = [["mode"] + [f"n={s}" for s in args.sizes]]
    for mode in MODES:
        rows.append([mode] + [f"{table[mode][str(s)]['mean']:.3f} ± {table[mode][str(s)]['std']:.3f}"
                              for s in args.sizes])
    print()
    print_table(rows)
    log(f"\n{args.seeds} seeds, test on {n_test} images; epochs per size {dict(zip(args.sizes, epochs))}; "
        f"total {elapsed / 60:.1f} min")

    name = "transfer_modes_quick" if args.quick else "transfer_modes"
    payload = {"study": "ResNet-20 (CIFAR-10) -> Fashion-MNIST, four transfer modes",
               "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
               "config": {"sizes": args.sizes, "epochs": epochs, "epochs_template": args.epochs,
                          "seeds": args.seeds, "test_images": n_test, "adapt": args.adapt,
                          "lr": args.lr, "head_lr": 10 * args.lr, "scratch_lr": args.scratch_lr,
                          "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY,
                          "batch_size": {str(s): batch_size_for(s) for s in args.sizes},
                          "logistic_regression": {"l2": "1/size (scikit-learn C=1)",
                                                  "steps": args.lr_epochs},
                          "threads": {v: os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}},
               "head_shortcut_max_logit_gap": gap, "timing": timing, "estimate_s": estimate, "elapsed_s": elapsed,
               "machine": machine(), "table": table, "cells": cells}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / f"{name}.json", payload)
    plot(table, args.sizes, args.out / f"{name}.png",
         f"ResNet-20 (CIFAR-10) -> Fashion-MNIST, mean ± std over {args.seeds} seeds")
    log(f"wrote {args.out / (name + '.json')} and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
