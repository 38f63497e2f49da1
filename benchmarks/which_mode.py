"""The lectures' "which mode?" table, measured: small and large target sets, a similar and a
dissimilar source.

    python benchmarks/which_mode.py [--budget-min 15] [--seeds 3] [--quick]

                    little data                         a lot of data
    similar         linear classifier on the top        fine-tune several or all layers
                    features
    different       classifier on features from         fine-tune all layers
                    earlier in the network

Similar row (measured here): source = minidl.models.layered_cnn trained from scratch on
Fashion-MNIST's class half A (all 6,000 training images per class; the halves of benchmarks/
yosinski_fashion.py, split_classes(10, seed=1)); target = half B, 10, 100 and 1,000 images per
class (balanced, nested per seed), scored on 2,000 B test images. 100 further B training images
per class, apart from every training subset, are the validation set. Dissimilar row: ResNet-20
with CIFAR-10 weights -> all ten Fashion-MNIST classes at 10, 100 and 1,000 images per class,
read from results/transfer_modes.json (benchmarks/transfer_modes.py, 3 seeds), whose four modes
are the same:

  scratch   the same architecture from random weights, lr 0.05
  features  logistic regression (l2 = 1 / N) on the frozen source's top conv map, flattened
            (the "bottleneck features" of the lecture's Keras example: for layered_cnn conv5's
            64 x 7 x 7 = 3,136 numbers; for ResNet-20 the 64-d pooled output, as
            transfer_modes.py records it). "features (pooled)" is the head's own 64-d input.
  features (chosen layer)
            the same classifier on the one conv layer (flattened) that scores best on the
            validation images: which layer to read is a hyperparameter, chosen without the test
            set (similar row only)
  head      a new linear head trained alone on the frozen body (SGD, lr 0.1: the head's 10x)
  all       everything fine-tuned: copied layers at lr 0.01, the new head at 10x (0.1)

The reason where the lecture's table and the measurement differ is measured too: a logistic
regression on every layer's pooled output (and on the raw pixels) of each source, at 100
images per class: which layer of the source network describes the target best. For the
dissimilar source this needs the pretrained ResNet-20 (skipped, with a note, when its weights
cannot be found). Epochs per size are planned from a timing of this machine to fit
--budget-min. Writes results/which_mode.json (after every seed) and which_mode.png; --summarise-only
recomputes the verdicts (with the measured facts behind each) and the figure from that file.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import RESULTS, machine, print_table, write_json  # noqa: E402
from yosinski_fashion import (DEPTH, HOST, LAYERS, SPLIT_SEED, Halves, accuracy, command,  # noqa: E402
                              log, measure, threads, train, transplant)

import minidl  # noqa: E402
from minidl import Tensor, no_grad, optim  # noqa: E402
from minidl.data import DataLoader  # noqa: E402
from minidl.transfer import LogisticRegression, extract_features, freeze, param_groups  # noqa: E402

MODES = ("scratch", "features", "features (chosen layer)", "head", "all")
FEATURES = ("features", "features (chosen layer)")
LECTURE = {("similar", "small"): ("features",), ("similar", "large"): ("all",),
           ("dissimilar", "small"): ("features from an earlier layer",), ("dissimilar", "large"): ("all",)}
LECTURE_TEXT = {("similar", "small"): "a linear classifier on the top features",
                ("similar", "large"): "fine-tune several or all layers",
                ("dissimilar", "small"): "a classifier on features from earlier in the network",
                ("dissimilar", "large"): "fine-tune all layers"}


def batch_for(n: int) -> int:
    return 16 if n <= 100 else 64


def pooled(model, x, layers) -> dict:
    """Each named layer's output averaged over positions, (N, channels), from one pass."""
    return {k: v.mean(axis=(2, 3)) for k, v in extract_features(model, layers, x, progress=False).items()}


def both(model, x, layers) -> tuple[dict, dict]:
    """Each named layer's output flattened (N, C*H*W) and averaged over positions (N, C)."""
    maps = extract_features(model, layers, x, progress=False)
    return ({k: v.reshape(len(v), -1) for k, v in maps.items()},
            {k: v.mean(axis=(2, 3)) for k, v in maps.items()})


def classifier(train_feats, y, l2) -> LogisticRegression:
    """The study's logistic regression, fitted on (train_feats, y)."""
    return LogisticRegression(l2=l2, lr=0.05, epochs=300).fit(train_feats, y)


def probe(train_feats, y, test_feats, y_test, l2) -> float:
    return classifier(train_feats, y, l2).score(test_feats, y_test)


def similar_seed(data, seed, sizes, epochs, src_epochs, args) -> list[dict]:
    """Every mode and size for one seed of the similar pair (A's net -> B)."""
    cells = []
    t0 = time.perf_counter()
    xa, ya = data.training("A", args.source_per_class, seed)
    source, groups = transplant(None, 0, False, seed, 0.05)
    train(source, groups, xa, ya, src_epochs, seed)
    src_acc = accuracy(source, *data.test["A"])
    log(f"seed {seed}: source net on A {src_acc:.4f} ({time.perf_counter() - t0:.0f}s)")
    cells.append({"mode": "source on A", "size": 5 * args.source_per_class, "seed": seed, "accuracy": src_acc})
    x_test, y_test = data.test["B"]
    x_val, y_val = data.validation("B", args.validation_per_class, seed)
    test_flat, test_feats = both(source, x_test, LAYERS)
    val_flat, _ = both(source, x_val, LAYERS)
    for per_class, ep in zip(sizes, epochs):
        n = 5 * per_class
        x, y = data.training("B", per_class, seed)
        flat, feats = both(source, x, LAYERS)
        tag = f"seed {seed} n={n}"
        # a logistic regression on each layer, scored on the validation images and on the test set
        val, test = {}, {}
        for layer in LAYERS:
            clf = classifier(flat[layer], y, 1 / n)
            val[layer], test[layer] = clf.score(val_flat[layer], y_val), clf.score(test_flat[layer], y_test)
            cells.append({"mode": f"probe {layer}", "size": n, "seed": seed, "accuracy": test[layer],
                          "validation": val[layer]})
        chosen = max(LAYERS, key=val.get)
        top = LAYERS[-1]
        cells.append({"mode": "features", "size": n, "seed": seed, "accuracy": test[top]})
        cells.append({"mode": "features (chosen layer)", "size": n, "seed": seed, "layer": chosen,
                      "validation": val[chosen], "accuracy": test[chosen]})
        cells.append({"mode": "features (pooled)", "size": n, "seed": seed,
                      "accuracy": probe(feats[top], y, test_feats[top], y_test, 1 / n)})
        if per_class in (sizes[0], args.probe_per_class):
            for layer in LAYERS:
                cells.append({"mode": f"probe {layer} pooled", "size": n, "seed": seed,
                              "accuracy": probe(feats[layer], y, test_feats[layer], y_test, 1 / n)})
            cells.append({"mode": "probe pixels", "size": n, "seed": seed,
                          "accuracy": probe(x.reshape(len(x), -1), y, x_test.reshape(len(x_test), -1), y_test,
                                            1 / n)})
        # head only: the frozen body's output never changes, so train the head on its features
        model, _ = transplant(source, DEPTH, True, seed + 100, 0.1)
        head = model.linear
        train(head, [{"params": list(head.parameters()), "lr": 10 * args.lr}], feats[top], y, ep, seed,
              batch_for(n))
        with no_grad():
            head_acc = float((head(Tensor(test_feats[top])).numpy().argmax(1) == y_test).mean())
        cells.append({"mode": "head", "size": n, "seed": seed, "epochs": ep, "accuracy": head_acc})
        for mode in ("all", "scratch"):
            t1 = time.perf_counter()
            if mode == "all":
                model, _ = transplant(source, DEPTH, False, seed + 100, args.lr)
                groups = param_groups(model, args.lr, head_lr_mult=10.0)
            else:
                model, groups = transplant(None, 0, False, seed + 100, args.scratch_lr)
            train(model, groups, x, y, ep, seed, batch_for(n))
            cells.append({"mode": mode, "size": n, "seed": seed, "epochs": ep,
                          "accuracy": accuracy(model, x_test, y_test), "seconds": time.perf_counter() - t1})
        log(tag + ": " + ", ".join(f"{c['mode']} {c['accuracy']:.4f}" for c in cells
                                   if c["size"] == n and c["seed"] == seed and not c["mode"].startswith("probe"))
            + f" (chosen: {chosen})")
    return cells


def dissimilar_probe(per_class: int, seed: int = 0) -> dict | None:
    """Logistic regression on each stage of the CIFAR-10 ResNet-20 (pooled) and on the pixels,
    Fashion-MNIST at per_class images per class, 2,000 test images; None without the weights."""
    from minidl.data import fashion_mnist, subset
    from minidl.models.resnet_cifar import resnet_cifar
    from minidl.pretrained import WeightsNotFoundError
    from minidl.transfer import adapt_images

    try:
        net = resnet_cifar(20, pretrained=True)
    except WeightsNotFoundError as err:
        log(f"dissimilar probe skipped: {err}")
        return None
    train_set, test_set = fashion_mnist("train"), fashion_mnist("test")
    tr, te = subset(train_set, per_class, seed=seed), subset(test_set, 200, seed=1000)
    x, xt = adapt_images(tr.images, "pad"), adapt_images(te.images, "pad")
    stages = ["layer1", "layer2", "layer3"]
    f, ft = pooled(net, x, stages), pooled(net, xt, stages)
    n = len(tr)
    out = {s: probe(f[s], tr.labels, ft[s], te.labels, 1 / n) for s in stages}
    out["pixels"] = probe(x[:, 0].reshape(n, -1), tr.labels, xt[:, 0].reshape(len(xt), -1), te.labels, 1 / n)
    return {"size": n, "test_images": len(te), "accuracy": out}


def table(cells, modes, sizes) -> dict:
    out = {}
    for mode in modes:
        for n in sizes:
            accs = [c["accuracy"] for c in cells if c["mode"] == mode and c["size"] == n]
            if accs:
                out.setdefault(mode, {})[str(n)] = {"mean": float(np.mean(accs)), "std": float(np.std(accs)),
                                                    "n": len(accs)}
    return out


def verdicts(rows: dict) -> dict:
    """For each of the 2x2 cells: the measured winner, the runner-up gap, the lecture's mode."""
    out = {}
    for (sim, size_name), (tab, n) in rows.items():
        means = {m: tab[m][str(n)]["mean"] for m in MODES if m in tab and str(n) in tab[m]}
        stds = {m: tab[m][str(n)]["std"] for m in means}
        ranked = sorted(means, key=means.get, reverse=True)
        win = ranked[0]
        within = [m for m in ranked if means[win] - means[m] <= stds[win] + stds[m]]
        # the lecture's mode: a linear classifier on features (the top layer's, or one chosen on
        # validation images where the study has it), or fine-tuning everything
        lecture = (FEATURES if LECTURE[sim, size_name][0].startswith("features") else ("all",))
        held = [m for m in lecture if m in within]
        out[f"{sim}/{size_name}"] = {
            "images": n, "winner": win, "means": means, "stds": stds,
            "tied_with_winner": within, "lecture": LECTURE_TEXT[sim, size_name],
            "lecture_mode": " or ".join(m for m in lecture if m in means),
            "lecture_holds": bool(held), "lecture_holds_by": held}
    return out


def explain(verdict: dict, probes: dict, dprobe: dict | None) -> None:
    """Add to each cell the measured facts behind the verdict (in place): for the similar pair
    each layer's probe of the source, for the dissimilar pair each ResNet-20 stage's probe."""
    def best_probe(n):
        row = {m[6:]: v[str(n)]["mean"] for m, v in probes.items() if str(n) in v}
        return max(row, key=row.get), row
    for cell, v in verdict.items():
        m, s = v["means"], v["stds"]
        facts = [f"measured: {v['winner']} {m[v['winner']]:.3f}; " + ", ".join(f"{k} {a:.3f}" for k, a in m.items())]
        if cell.startswith("similar"):
            sizes = sorted(int(n) for p in probes.values() for n in p)
            n = min(sizes, key=lambda k: abs(k - v["images"]))
            name, row = best_probe(n)
            facts.append(f"layer probes of the A network at {n} B images: best {name} {row[name]:.3f}, "
                         f"pixels {row.get('pixels', float('nan')):.3f}")
        elif dprobe:
            acc = dprobe["accuracy"]
            stages = {k: a for k, a in acc.items() if k != "pixels"}
            best = max(stages, key=stages.get)
            facts.append(f"stage probes of the CIFAR-10 ResNet-20 at {dprobe['size']} images: "
                         + ", ".join(f"{k} {a:.3f}" for k, a in acc.items())
                         + f"; the best stage is {best}"
                         + (f", earlier than the top (the lecture's advice holds in that part)" if best != "layer3"
                            else "") + (f", but the raw pixels beat every stage: the source's features "
                                        f"describe clothes worse than the pixels do" if acc["pixels"] > stages[best]
                                        else ""))
        v["facts"] = facts


def summarise_only(path: Path) -> int:
    """Recompute the verdicts, their facts and the figure from a finished results file."""
    payload = json.loads(path.read_text())
    sim, dis = payload["similar"], payload["dissimilar"]["table"]
    sizes = sorted(int(n) for n in sim["scratch"])
    dsizes = sorted(int(n) for n in dis["scratch"])
    rows = {("similar", "small"): (sim, sizes[0]), ("similar", "large"): (sim, sizes[-1]),
            ("dissimilar", "small"): (dis, dsizes[0]), ("dissimilar", "large"): (dis, dsizes[-1])}
    payload["verdicts"] = verdicts(rows)
    explain(payload["verdicts"], payload["similar_layer_probe"], payload["dissimilar_layer_probe"])
    payload.setdefault("summarised_by", []).append(command(None))
    write_json(path, payload)
    plot(rows, path.with_suffix(".png"))
    for cell, v in payload["verdicts"].items():
        log(f"{cell}: winner {v['winner']}, lecture {v['lecture_mode']} -> "
            f"{'holds' if v['lecture_holds'] else 'FAILS'}; " + "; ".join(v["facts"]))
    return 0


def plot(rows: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 7))
    axes = fig.subplots(2, 2, sharey=True)
    labels = {"scratch": "scratch", "features": "top features\n+ log. reg.",
              "features (chosen layer)": "chosen layer\n+ log. reg.", "head": "fine-tune\nhead",
              "all": "fine-tune\nall"}
    for ax, ((sim, size_name), (tab, n)) in zip(axes.flat, rows.items()):
        modes = [m for m in MODES if m in tab and str(n) in tab[m]]
        means = [tab[m][str(n)]["mean"] for m in modes]
        stds = [tab[m][str(n)]["std"] for m in modes]
        best = int(np.argmax(means))
        colors = ["tab:orange" if i == best else "tab:blue" for i in range(len(modes))]
        ax.bar(range(len(modes)), means, yerr=stds, capsize=4, color=colors)
        for i, m in enumerate(means):
            ax.text(i, m + 0.02, f"{m:.3f}", ha="center", fontsize=8)
        ax.set_xticks(range(len(modes)), labels=[labels[m] for m in modes], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{sim} target, {size_name} ({n} images): lecture says {LECTURE_TEXT[sim, size_name]}",
                     fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0, 0].set_ylabel("test accuracy (mean ± std)")
    axes[1, 0].set_ylabel("test accuracy (mean ± std)")
    fig.suptitle("Which mode? similar: Fashion-MNIST half A -> half B (layered_cnn); "
                 "dissimilar: CIFAR-10 ResNet-20 -> Fashion-MNIST", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def resumed(path: Path, config: dict, timing: dict):
    """(config, cells, timing, seconds spent) of an unfinished run in ``path`` that this one may
    complete: the seeds it finished (a file holds whole seeds) are kept, with the epochs it planned
    and its command (config["resumed"])."""
    if not path.exists():
        log(f"--resume: no {path}; starting afresh")
        return config, [], timing, 0.0
    saved = json.loads(path.read_text())
    same = ("sizes", "source_images", "lr", "head_lr", "scratch_lr", "test_images", "classes")
    differ = [k for k in same if saved["config"]["similar"].get(k) != config["similar"][k]]
    if differ or saved["config"]["seeds"] != config["seeds"]:
        raise SystemExit(f"--resume: {path} was run with other settings ({', '.join(differ) or 'seeds'}); "
                         "run without --resume to replace it")
    config["similar"].update(epochs=saved["config"]["similar"]["epochs"],
                             source_epochs=saved["config"]["similar"]["source_epochs"])
    log(f"--resume: keeping seeds {sorted({c['seed'] for c in saved['cells']})} of {path}")
    config["resumed"] = {"command": saved["command"], "seeds_kept": sorted({c["seed"] for c in saved["cells"]})}
    return config, saved["cells"], saved["timing"], saved.get("elapsed_s") or 0.0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000], help="B images per class")
    p.add_argument("--epochs", type=int, nargs="+", default=[40, 15, 6], help="per size, before the budget")
    p.add_argument("--source-per-class", type=int, default=6000, help="A images per class for the source (6,000: all)")
    p.add_argument("--source-epochs", type=int, default=4)
    p.add_argument("--validation-per-class", type=int, default=100,
                   help="B images per class, apart from every training subset, to choose the feature layer")
    p.add_argument("--probe-per-class", type=int, default=100)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.01, help="fine-tuning rate of copied layers (head 10x)")
    p.add_argument("--scratch-lr", type=float, default=0.05)
    p.add_argument("--budget-min", type=float, default=20.0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--resume", action="store_true",
                   help="keep the finished seeds of an unfinished results file, run the rest")
    p.add_argument("--summarise-only", action="store_true",
                   help="recompute the verdicts and the figure from results/which_mode.json")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.summarise_only:
        return summarise_only(args.out / "which_mode.json")
    if args.quick:
        args.sizes, args.epochs, args.seeds, args.source_per_class = [10, 40], [4, 2], 1, 60
        args.source_epochs, args.probe_per_class, args.budget_min, args.validation_per_class = 2, 40, 2.0, 20
    started = time.perf_counter()
    timing = measure()
    data = Halves(SPLIT_SEED, 40 if args.quick else 400)
    t_img = timing["train_s_per_image"]
    def cost(scale):
        eps = [max(1, int(e * scale)) for e in args.epochs]
        src = max(1, int(args.source_epochs * scale))
        return eps, src, args.seeds * t_img * (5 * args.source_per_class * src
                                               + 2.2 * sum(5 * n * e for n, e in zip(args.sizes, eps)))
    scale = 1.0
    while scale > 0.05 and cost(scale)[2] > 60 * args.budget_min:
        scale *= 0.9
    epochs, src_epochs, estimate = cost(scale)
    log(f"timing {1e3 * t_img:.2f} ms/image; plan: B sizes {[5 * s for s in args.sizes]}, epochs {epochs}, "
        f"source {src_epochs} epochs on {5 * args.source_per_class} A images, {args.seeds} seeds, "
        f"~{estimate / 60:.0f} min")
    sizes = [5 * s for s in args.sizes]
    name = "which_mode_quick" if args.quick else "which_mode"
    config = {"similar": {"source": f"layered_cnn({DEPTH}) trained on half A", "classes": data.names,
                          "source_images": 5 * args.source_per_class, "source_epochs": src_epochs,
                          "sizes": sizes, "epochs": epochs, "lr": args.lr, "head_lr": 10 * args.lr,
                          "scratch_lr": args.scratch_lr, "test_images": len(data.test["B"][1]),
                          "batch_size": {str(n): batch_for(n) for n in sizes},
                          "validation_images": 5 * args.validation_per_class},
              "seeds": args.seeds, "threads": threads()}
    dissimilar = None
    modes_file = args.out / "transfer_modes.json"
    if modes_file.exists():
        dissimilar = json.loads(modes_file.read_text())
    cells: list[dict] = []
    earlier_s = 0.0                     # the seconds an interrupted run had spent, when resumed
    if args.resume:
        config, cells, timing, earlier_s = resumed(args.out / f"{name}.json", config, timing)
        epochs, src_epochs = config["similar"]["epochs"], config["similar"]["source_epochs"]

    def snapshot() -> dict:
        return {"study": "the lectures' which-mode table, measured", "command": command(argv), "host": HOST,
                "complete": False, "config": config, "timing": timing, "machine": machine(),
                "similar": table(cells, MODES + ("features (pooled)", "source on A"),
                                 sizes + [5 * args.source_per_class]),
                "cells": cells, "elapsed_s": earlier_s + time.perf_counter() - started}

    for seed in range(args.seeds):
        if not any(c["seed"] == seed for c in cells):
            cells += similar_seed(data, seed, args.sizes, epochs, src_epochs, args)
            write_json(args.out / f"{name}.json", snapshot())
    payload = snapshot()
    sim = payload["similar"]
    probe_modes = [f"probe {lay}{kind}" for lay in LAYERS for kind in ("", " pooled")] + ["probe pixels"]
    probes = table(cells, probe_modes, sorted({sizes[0], 5 * args.probe_per_class}))
    for n in sorted({sizes[0], 5 * args.probe_per_class}):
        log(f"similar source, each layer's features (flattened / pooled) at {n} images: "
            + ", ".join(f"{lay} {probes[f'probe {lay}'][str(n)]['mean']:.3f}/"
                        f"{probes[f'probe {lay} pooled'][str(n)]['mean']:.3f}" for lay in LAYERS)
            + f", pixels {probes['probe pixels'][str(n)]['mean']:.3f}")
    chosen = {str(n): [c["layer"] for c in cells if c["mode"] == "features (chosen layer)" and c["size"] == n]
              for n in sizes}
    log("similar source, the layer the validation images chose, per seed: "
        + "; ".join(f"{n} images: {', '.join(v)}" for n, v in chosen.items()))
    dprobe = None if args.quick else dissimilar_probe(args.probe_per_class)
    if dprobe:
        log(f"dissimilar source (ResNet-20), each stage at {dprobe['size']} images: "
            + ", ".join(f"{k} {v:.4f}" for k, v in dprobe["accuracy"].items()))
    rows = {("similar", "small"): (sim, sizes[0]), ("similar", "large"): (sim, sizes[-1])}
    if dissimilar is not None:
        dsizes = sorted(int(s) for s in dissimilar["table"]["scratch"])
        rows[("dissimilar", "small")] = (dissimilar["table"], dsizes[0])
        rows[("dissimilar", "large")] = (dissimilar["table"], dsizes[-1])
    verdict = verdicts(rows)
    explain(verdict, probes, dprobe)
    out_rows = [["cell", "images"] + list(MODES) + ["winner", "lecture", "holds"]]
    for cell, v in verdict.items():
        out_rows.append([cell, str(v["images"])] + [f"{v['means'][m]:.3f} ± {v['stds'][m]:.3f}" if m in v["means"]
                                                    else "-" for m in MODES]
                        + [v["winner"], v["lecture_mode"], "yes" if v["lecture_holds"] else "NO"])
    print()
    print_table(out_rows)
    elapsed = earlier_s + time.perf_counter() - started
    payload.update(complete=True, elapsed_s=elapsed, load_avg_1min_end=os.getloadavg()[0],
                   similar_layer_probe=probes, similar_chosen_layers=chosen, dissimilar_layer_probe=dprobe,
                   dissimilar={"source": "results/transfer_modes.json", "command": dissimilar and dissimilar["command"],
                               "table": dissimilar and dissimilar["table"]},
                   verdicts=verdict)
    write_json(args.out / f"{name}.json", payload)
    if len(rows) == 4:
        plot(rows, args.out / f"{name}.png")
    log(f"total {elapsed / 60:.1f} min; wrote {args.out / (name + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
