# %% [markdown]
# # Lesson 12. How transferable are features? Copy the first k stages of a pretrained network, train the rest.
#
# The lecture on training CNNs and the fine-tuning lecture (after Yosinski et al., "How transferable are features in deep neural
# networks?", 2014): the first layers of a CNN learn generic filters (edges, colour blobs) that
# look alike whatever the data set; the last layers become specific to the source task. Where
# does general turn into specific? Yosinski's experiment answers it: build a fresh network, copy
# its first k layers from the pretrained one, train the rest on the target task, and plot the
# accuracy against k, with the copied layers either
#
#     frozen      not updated during backprop (useful when target labels are scarce), or
#     fine-tuned  updated with everything else (when labels are more plentiful).
#
# Here the network is ResNet-20 (CIFAR-10 weights) and its "layers" are its four stages: the stem
# (conv + BN), layer1, layer2, layer3. The target is Fashion-MNIST. k = 0 is training from scratch;
# k = 4 frozen trains only the new head. Every run gets the same number of steps.
# benchmarks/transferability.py runs the same study longer and with more seeds.
#
# Run:  python lessons/12_transferability.py [--quick] [--out DIR]

# %%
"""How transferable are features? Copy the first k stages of a pretrained network, train the rest."""
import json

import matplotlib.pyplot as plt
import numpy as np
from _common import REPO, claim, claim_on, section, start, transfer_target

import minidl
from minidl import optim
from minidl.data import DataLoader
from minidl.models.resnet_cifar import resnet_cifar
from minidl.train import evaluate, fit
from minidl.transfer import copy_weights, freeze, param_groups, replace_head

lesson = start("12_transferability", __doc__)
STAGES = ("stem", "layer1", "layer2", "layer3")
LABELS = ["none", "stem", "+layer1", "+layer2", "+layer3"]


# %% [markdown]
# ## The target task and the source network

# %%
section("The target task and the source network")
x_train, y_train, x_test, y_test, classes, target = transfer_target(
    lesson, per_class_train=lesson.pick(50, 20), per_class_test=lesson.pick(50, 15))
source = resnet_cifar(20, pretrained=True)
steps, batch = lesson.pick(40, 10), lesson.pick(32, 16)
KS = lesson.pick(range(5), (0, 2, 4))          # --quick: three points of the curve
train_loader = DataLoader(x_train, y_train, batch_size=batch, shuffle=True, seed=0)
epochs = -(-steps // len(train_loader))
test_loader = DataLoader(x_test, y_test, batch_size=250)
print(f"every run: {epochs} epochs of {len(train_loader)} steps of {batch} images, SGD lr 0.05, momentum 0.9")


def stage_state(model, stage):
    """The stage's parameters and BatchNorm statistics, as arrays."""
    prefixes = tuple(a + "." for a in model.stages[stage])
    return {k: v.copy() for k, v in model.state_dict().items() if k.startswith(prefixes)}


def same(a, b):
    return all(np.array_equal(a[k], b[k]) for k in a)


exact_copies = []                       # did copy_weights reproduce every copied tensor?


def run(k, variant):
    """A fresh ResNet-20 with the first k stages copied from the source (frozen or fine-tuned),
    the rest and a new head random; trained, then scored on the test set."""
    minidl.manual_seed(1)
    model = resnet_cifar(20)
    replace_head(model, num_classes=10)
    if k:
        copied = copy_weights(source, model, upto=STAGES[k - 1])
        exact_copies.append(all(np.array_equal(model.state_dict()[key], source.state_dict()[key])
                                for key in copied))
        if variant == "frozen":
            freeze(model, upto=STAGES[k - 1])
    before = {s: stage_state(model, s) for s in STAGES}
    trainable = sum(p.data.size for p in model.parameters() if p.requires_grad)
    opt = optim.SGD(param_groups(model, 0.05, head_lr_mult=1.0), lr=0.05, momentum=0.9, weight_decay=5e-4)
    fit(model, opt, train_loader, epochs=epochs,
        scheduler=optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs), progress=False)
    unchanged = [s for s in STAGES if same(before[s], stage_state(model, s))]
    acc = evaluate(model, test_loader)["accuracy"]
    print(f"k={k} ({LABELS[k]:8s}) {variant:10s}: {trainable:7,d} trainable, accuracy {acc:.3f}; "
          f"unchanged by training: {', '.join(unchanged) or 'nothing'}")
    return acc, trainable, unchanged


# %% [markdown]
# ## Copy k stages, train the rest

# %%
section("Copy k stages, train the rest")
acc = {"frozen": {}, "fine-tuned": {}}
trainable, unchanged = {}, {}
for k in KS:
    for variant in acc if k else ["scratch"]:          # k = 0: one run serves both curves
        result = run(k, variant)
        for v in (acc if k == 0 else [variant]):
            acc[v][k], trainable[k, v], unchanged[k, v] = result
copies = [k for k in KS if k]
claim(len(exact_copies) == 2 * len(copies) and all(exact_copies),
      "before training, every copied tensor (weights and BatchNorm statistics) equals the source's")
claim(all(unchanged[k, "frozen"] == list(STAGES[:k]) for k in copies),
      "training changed every stage except the frozen copies, which kept their weights and "
      "BatchNorm statistics bit for bit")
claim(all(unchanged[k, "fine-tuned"] == [] for k in KS),
      "fine-tuned copies moved away from the pretrained weights")
claim(all(trainable[a, "frozen"] > trainable[b, "frozen"] for a, b in zip(KS, KS[1:])),
      "each frozen stage takes its parameters out of training: 269,722 trainable at k=0, 650 at k=4")
best_k = max(copies, key=lambda k: max(acc["frozen"][k], acc["fine-tuned"][k]))
best = max(acc["frozen"][best_k], acc["fine-tuned"][best_k])
claim_on("Fashion-MNIST", target, best >= acc["frozen"][0] + 0.05,
         f"copying pretrained stages beats training from scratch in the same number of steps "
         f"(best: k={best_k}, {best:.3f} vs {acc['frozen'][0]:.3f})")
claim_on("Fashion-MNIST", target, acc["frozen"][4] + 0.05 < acc["fine-tuned"][4],
         f"with every stage copied, freezing them ({acc['frozen'][4]:.3f}) loses to fine-tuning them "
         f"({acc['fine-tuned'][4]:.3f}): the top stage is specific to CIFAR-10 and has to adapt")
print(f"One seed and {steps} steps a run make this curve noisy; the study in benchmarks/ averages seeds.")

study = REPO / "benchmarks" / "results" / "transferability.json"
full = json.loads(study.read_text()) if study.exists() else None
if full:
    section("The full study (benchmarks/transferability.py)")
    cfg = full["config"]
    print(f"{cfg['size']} images, {cfg['epochs']} epochs, {cfg['seeds']} seeds, {cfg['test_images']} test images")
    for k in range(5):
        print(f"  k={k} ({LABELS[k]:8s}) " + "  ".join(
            f"{v} {full['curves'][v][str(k)]['mean']:.3f} ± {full['curves'][v][str(k)]['std']:.3f}" for v in acc))


# %% [markdown]
# ## Figure

# %%
section("Figure")
fig, axes = plt.subplots(1, 2 if full else 1, figsize=(13 if full else 7, 4.3), squeeze=False)
ax = axes[0, 0]
for variant, marker in zip(acc, "os"):
    ax.plot(KS, [acc[variant][k] for k in KS], marker=marker, label=f"copied stages {variant}")
ax.axhline(acc["frozen"][0], color="gray", ls=":", label="from scratch (k = 0)")
ax.set(xticks=KS, xticklabels=[f"{k}\n{LABELS[k]}" for k in KS],
       xlabel="k = pretrained stages copied", ylabel="test accuracy",
       title=f"ResNet-20, CIFAR-10 -> {target}: {len(x_train)} images, {steps} steps a run")
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8)
if full:
    ax = axes[0, 1]
    for variant, marker in zip(acc, "os"):
        mean = [full["curves"][variant][str(k)]["mean"] for k in range(5)]
        std = [full["curves"][variant][str(k)]["std"] for k in range(5)]
        ax.errorbar(range(5), mean, yerr=std, marker=marker, capsize=3, label=f"copied stages {variant}")
    ax.set(xticks=range(5), xticklabels=[f"{k}\n{LABELS[k]}" for k in range(5)], ylabel="test accuracy",
           xlabel="k = pretrained stages copied",
           title=f"the full study: {cfg['size']} images, {cfg['epochs']} epochs, mean of {cfg['seeds']} seeds")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
lesson.save(fig, "transferability.png")
lesson.done()
