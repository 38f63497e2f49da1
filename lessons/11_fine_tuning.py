# %% [markdown]
# # Lesson 11. Transfer by fine-tuning: freeze, replace the head, unfreeze stage by stage, a 10x head rate,
#
# and the lectures' "which mode?" question measured on a small and a larger target set.
#
# The lecture on training CNNs, the lab and the fine-tuning lecture: fine-tuning starts from the pretrained weights instead of random ones. Remove
# the source's output layer and put a freshly initialised one in its place; train it with the body
# frozen; then unfreeze the body (the last, most task-specific stages first) and train on with a
# small learning rate, the new head learning ~10x faster than the copied layers. Which mode to use
# depends on how much labelled target data there is and how similar it is to the source:
#
#                         little data                          a lot of data
#     similar data        linear classifier on the top          fine-tune several or all layers
#                         ("bottleneck") features
#     different data      classifier on features from           fine-tune all layers (pretrained
#                         earlier in the network                weights as the initialisation)
#
# Source: ResNet-20 with the published CIFAR-10 weights. Target: Fashion-MNIST, which is
# *different* data (lesson 10). The lesson shows each step of the mechanics, then trains four
# contenders on 10 images per class and on more, every network with the same number of steps:
# training from scratch, a classifier on layer2 features (lesson 10's best), the new head alone
# (frozen body: a classifier on the top features), and everything fine-tuned with a 10x head rate.
# benchmarks/transfer_modes.py runs the full study (up to 10,000 images, 3 seeds), and
# benchmarks/which_mode.py measures the whole table (a similar pair too: Fashion-MNIST half A ->
# half B); their tables are printed at the end when their results are present. What this short
# run shows and what the full study shows differ in one place, and the lesson says why: whether
# a network trained from scratch passes a classifier on the pretrained features depends on how
# many steps it gets.
#
# Run:  python lessons/11_fine_tuning.py [--quick] [--out DIR]

# %%
"""Transfer by fine-tuning: freeze, replace the head, unfreeze stage by stage, a 10x head rate,"""
import json

import matplotlib.pyplot as plt
import numpy as np
from _common import REPO, claim, claim_on, section, start, transfer_target, with_weights

import minidl
from minidl import optim
from minidl.data import DataLoader, subset
from minidl.data.dataset import Dataset
from minidl.models.resnet_cifar import resnet_cifar
from minidl.train import evaluate, fit
from minidl.transfer import (LogisticRegression, extract_features, freeze, param_groups, replace_head,
                             stage_names, trainable_summary, unfreeze)

lesson = start("11_fine_tuning", __doc__)


def trainable(model) -> int:
    return sum(p.data.size for p in model.parameters() if p.requires_grad)


# %% [markdown]
# ## 1. A new head on a frozen body

# %%
section("1. A new head on a frozen body")
model = with_weights(lesson, lambda: resnet_cifar(20, pretrained=True))
head = replace_head(model, num_classes=10)
freeze(model, upto="layer3")
print(trainable_summary(model, by="stage"))
claim(trainable(model) == head.weight.data.size + head.bias.data.size == 64 * 10 + 10,
      "only the new head, Linear(64, 10), can learn: 650 parameters of 269,722")


# %% [markdown]
# ## 2. Unfreezing stage by stage, the most task-specific first

# %%
section("2. Unfreezing stage by stage, the most task-specific first")
stages = [s for s in stage_names(model) if s != "linear"]       # stem, layer1, layer2, layer3
sizes = {s: sum(p.data.size for m in model.stage(s) for p in m.parameters()) for s in stages}
before = trainable(model)
for s in reversed(stages):
    unfreeze(model, [s])
    after = trainable(model)
    print(f"unfreeze {s:6s}: +{after - before:7,d} trainable parameters -> {after:7,d}")
    claim(after - before == sizes[s], f"unfreezing {s} makes exactly its {sizes[s]:,d} parameters trainable")
    before = after


# %% [markdown]
# ## 3. Learning rates: the head 10x the base, earlier stages geometrically less

# %%
section("3. Learning rates: the head 10x the base, earlier stages geometrically less")
groups = param_groups(model, base_lr=0.01, head_lr_mult=10.0, decay=0.5)
for g in groups:
    print(f"  {g['name']:7s} lr {g['lr']:.5f}  ({sum(p.data.size for p in g['params']):7,d} parameters)")
lr = {g["name"]: g["lr"] for g in groups}
claim(lr["head"] == 10 * lr["layer3"] and lr["stem"] < lr["layer1"] < lr["layer2"] < lr["layer3"],
      "the head learns at 10x the base rate; each stage below the top learns at half the one above")
opt = optim.SGD(groups, lr=0.01, momentum=0.9)
claim([g["lr"] for g in opt.param_groups] == [g["lr"] for g in groups],
      "minidl.optim.SGD keeps one learning rate per parameter group")


# %% [markdown]
# ## 4. Which mode? Four contenders on a small and a larger target set

# %%
section("4. Which mode? Four contenders on a small and a larger target set")
sizes_per_class = (10, lesson.pick(100, 30))
x_pool, y_pool, x_test, y_test, classes, target = transfer_target(
    lesson, per_class_train=sizes_per_class[1], per_class_test=lesson.pick(50, 15))
steps, batch = lesson.pick(60, 8), lesson.pick(32, 16)   # the same training budget for every network run
test_loader = DataLoader(x_test, y_test, batch_size=250)


def pooled_features():
    """A frozen pretrained ResNet-20's layer2 and layer3 outputs, averaged over positions
    (lesson 10), for the training pool and the test images, from one pass. Averaging layer3 is
    exactly the pooled input of the head."""
    net = resnet_cifar(20, pretrained=True)
    f = extract_features(net, ["layer2", "layer3"], np.concatenate([x_pool, x_test]), progress=False)
    n = len(x_pool)
    return {name: (f[layer][:n].mean(axis=(2, 3)), f[layer][n:].mean(axis=(2, 3)))
            for name, layer in (("layer2", "layer2"), ("pool", "layer3"))}


features = pooled_features()


def train_network(pretrained, x, y):
    """Fine-tune everything (pretrained) or train from scratch for `steps` mini-batches of
    `batch` images, SGD with momentum and a cosine schedule; returns the test accuracy."""
    minidl.manual_seed(1)
    net = resnet_cifar(20, pretrained=pretrained)
    replace_head(net, num_classes=10)
    groups = param_groups(net, base_lr=0.01) if pretrained else [{"params": list(net.parameters()), "lr": 0.05}]
    opt = optim.SGD(groups, lr=groups[0]["lr"], momentum=0.9, weight_decay=5e-4)
    loader = DataLoader(x, y, batch_size=batch, shuffle=True, seed=0)
    epochs = -(-steps // len(loader))
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    fit(net, opt, loader, epochs=epochs, scheduler=sched, progress=False)
    return evaluate(net, test_loader)["accuracy"]


results = {}
for per_class in sizes_per_class:
    keep = subset(Dataset(np.arange(len(y_pool)), y_pool, classes), per_class, seed=0).images
    x, y = x_pool[keep], y_pool[keep]
    r = results[per_class] = {}
    r["scratch"] = train_network(False, x, y)
    r["features (layer2)"] = LogisticRegression().fit(features["layer2"][0][keep], y).score(features["layer2"][1], y_test)
    r["head only"] = LogisticRegression().fit(features["pool"][0][keep], y).score(features["pool"][1], y_test)
    r["fine-tune all"] = train_network(True, x, y)
    print(f"{len(x):5d} images: " + ", ".join(f"{m} {a:.3f}" for m, a in r.items()))

small, large = sizes_per_class
claim(max(results[small], key=results[small].get) != "scratch",
      f"with {10 * small} images, reusing the pretrained network beats training from scratch")
claim_on("Fashion-MNIST", target,
         all(results[n]["fine-tune all"] > results[n]["scratch"] + 0.05 for n in sizes_per_class),
         f"with the same {steps} steps, starting from the pretrained weights beats starting from random "
         "ones at both sizes: the copied layers are a head start")
claim_on("Fashion-MNIST", target, results[small]["features (layer2)"] > results[small]["head only"],
         "with little data from a different domain, features from inside the network beat the top "
         f"ones ({results[small]['features (layer2)']:.3f} vs {results[small]['head only']:.3f})")
for n in sizes_per_class:
    print(f"{10 * n:5d} images, best first: " + " > ".join(sorted(results[n], key=results[n].get, reverse=True)))
beaten = [10 * n for n in sizes_per_class if results[n]["scratch"] > results[n]["features (layer2)"]]
print(f"In this run the network trained from scratch {'beats' if beaten else 'does not beat'} the linear "
      f"classifier on layer2 features{' at ' + ' and '.join(map(str, beaten)) + ' images' if beaten else ''}. "
      f"That depends on the budget: with {steps} steps of {batch} a random network has "
      f"{'barely left chance' if steps < 20 else 'learnt a good part of the task'}; the features need "
      "no steps at all. The full study below trains longer (30, 8 and 1 epochs) and there scratch beats "
      "the features at every size: for this dissimilar pair the CIFAR-10 features describe clothes "
      "worse than a small network learns them (lesson 10: even the raw pixels beat every stage), "
      "and fine-tuning everything, the table's bottom row, wins at every size. In this run the best is "
      + " and ".join(f"{max(results[n], key=results[n].get)} at {10 * n} images" for n in sizes_per_class)
      + ("" if all(max(results[n], key=results[n].get) == "fine-tune all" for n in sizes_per_class) else
         f": {steps} steps are too few for fine-tuning all 269,722 parameters to pay off"))

study = REPO / "benchmarks" / "results" / "transfer_modes.json"
if study.exists():
    section("The full study (benchmarks/transfer_modes.py)")
    data = json.loads(study.read_text())
    for mode, row in data["table"].items():
        print(f"  {mode:9s} " + "  ".join(f"n={n}: {cell['mean']:.3f} ± {cell['std']:.3f}" for n, cell in row.items()))
    t = data["table"]
    claim(all(t["scratch"][n]["mean"] > t["features"][n]["mean"] for n in t["scratch"])
          and all(t["all"][n]["mean"] == max(t[m][n]["mean"] for m in t) for n in t["all"]),
          "in the full study (3 seeds) scratch beats the top features at every size and fine-tuning "
          "everything is best at every size")

table = REPO / "benchmarks" / "results" / "which_mode.json"
if table.exists():
    section("The lecture's table, measured (benchmarks/which_mode.py)")
    verdicts = json.loads(table.read_text()).get("verdicts", {})
    for cell, v in verdicts.items():
        print(f"  {cell:17s} {v['images']:5d} images: " + ", ".join(
            f"{m} {v['means'][m]:.3f} ± {v['stds'][m]:.3f}" for m in v["means"])
            + f"\n  {'':17s} measured winner: {v['winner']}; the lecture: {v['lecture']} -> "
            + (f"agrees (within the spread), by {' and '.join(v.get('lecture_holds_by', [v['lecture_mode']]))}"
               if v["lecture_holds"] else "does NOT agree"))


# %% [markdown]
# ## Figure

# %%
section("Figure")
fig, ax = plt.subplots(figsize=(7.5, 4.5))
modes = list(results[small])
pos = np.arange(len(modes))
for k, per_class in enumerate(sizes_per_class):
    ax.bar(pos + (k - 0.5) * 0.38, [results[per_class][m] for m in modes], 0.38,
           label=f"{10 * per_class} training images")
ax.axhline(0.1, color="gray", ls=":", label="chance")
ax.set(xticks=pos, xticklabels=modes, ylabel="test accuracy", ylim=(0, 1),
       title=f"CIFAR-10 ResNet-20 -> {target}: which mode? ({steps} steps of {batch} for the networks)")
ax.legend(fontsize=8)
lesson.save(fig, "which_mode.png")
lesson.done()
