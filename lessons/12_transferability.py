# %% [markdown]
# # Lesson 12. How transferable are features? Yosinski's experiment: copy the first k layers, train the rest.
#
# The lecture on training CNNs and the fine-tuning lecture (after Yosinski et al., "How
# transferable are features in deep neural networks?", 2014): the first layers of a CNN learn
# generic filters (edges, blobs) that look alike whatever the data; the last layers become
# specific to the task. Where does general turn into specific? The paper splits ImageNet's
# classes into two halves A and B, trains a base network on each, then for k = 1..7 builds new
# networks whose first k layers are copied from a base network and whose other layers start
# from random weights and are trained on B:
#
#     BnB    the first k layers of baseB itself, frozen        (does re-training the top
#     BnB+   the same, fine-tuned with the rest                  layers give baseB back?)
#     AnB    the first k layers of baseA, frozen                (are A's features good for B?)
#     AnB+   the same, fine-tuned with the rest
#
# Its findings: BnB drops in the middle layers (k = 3..5 of 8): the copied lower layers and the
# random upper ones were *co-adapted* in baseB, and re-learning the upper half on top of frozen
# lower layers cannot find that fit again, although the data is the same; fine-tuning (BnB+)
# recovers it. AnB falls as k grows: features go from general to specific, and frozen specific
# features hurt. AnB+ is *better* than baseB: starting from another task's weights helps even
# after long training.
#
# Here the same design on Fashion-MNIST: halves A (T-shirt/top, Trouser, Coat, Sneaker, Bag) and
# B (Pullover, Dress, Sandal, Shirt, Ankle boot), the same domain; a CNN of five conv layers and
# a linear head (minidl.models.layered_cnn), k = 1..5. A lesson-sized run (one seed, a few
# epochs on a small subset), then the study of benchmarks/yosinski_fashion.py (3 seeds, 5,000
# images per half) when its results are present.
#
# Run:  python lessons/12_transferability.py [--quick] [--out DIR]

# %%
"""How transferable are features? Yosinski's experiment: copy the first k layers, train the rest."""
import json

import matplotlib.pyplot as plt
import numpy as np
from _common import REPO, claim, claim_on, class_halves, section, start

import minidl
from minidl import optim
from minidl.data import DataLoader
from minidl.models import layered_cnn
from minidl.train import evaluate, fit
from minidl.transfer import copy_weights, freeze, param_groups

lesson = start("12_transferability", __doc__)
LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")
VARIANTS = ("BnB", "BnB+", "AnB", "AnB+")


# %% [markdown]
# ## Two halves of the classes, a base network on each

# %%
section("Two halves of the classes, a base network on each")
halves, target = class_halves(lesson, per_class_train=lesson.pick(200, 60), per_class_test=lesson.pick(200, 60))
epochs, batch, lr = lesson.pick(3, 2), 32, 0.05
KS = lesson.pick((1, 2, 3, 4, 5), (1, 3, 5))          # --quick: three points of the curve
steps = epochs * -(-len(halves["B"][1]) // batch)
print(f"every run: {epochs} epochs of batch {batch} ({steps} steps), SGD lr {lr} for every layer "
      f"(copied ones too, as in the paper), momentum 0.9, cosine schedule")


def train(model, half, seed):
    """Train every trainable parameter of model on half's training images; test accuracy."""
    x, y, x_test, y_test, _ = halves[half]
    opt = optim.SGD(param_groups(model, lr, head_lr_mult=1.0), lr=lr, momentum=0.9, weight_decay=5e-4)
    loader = DataLoader(x, y, batch, shuffle=True, seed=seed)
    fit(model, opt, loader, epochs=epochs, progress=False,
        scheduler=optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(loader)),
        scheduler_interval="step")
    return evaluate(model, DataLoader(x_test, y_test, 250))["accuracy"]


base, acc = {}, {"baseB": None, **{v: {} for v in VARIANTS}}
for half in "AB":
    minidl.manual_seed(0)
    base[half] = layered_cnn(5, num_classes=5)
    score = train(base[half], half, seed=0)
    print(f"base{half}: trained from scratch on {half}, test accuracy on {half} {score:.3f}")
    if half == "B":
        acc["baseB"] = score


# %% [markdown]
# ## BnB, BnB+, AnB, AnB+ for each k

# %%
section("BnB, BnB+, AnB, AnB+ for each k")


def stage_state(model, layer):
    return {k: v.copy() for k, v in model.state_dict().items() if k.startswith(layer + ".")}


exact, unchanged, trainable = [], {}, {}
for k in KS:
    for variant in VARIANTS:
        minidl.manual_seed(1)                           # the same random upper layers in every run
        model = layered_cnn(5, num_classes=5)
        source = base[variant[0]]
        copied = copy_weights(source, model, upto=LAYERS[k - 1])
        exact.append(all(np.array_equal(model.state_dict()[key], source.state_dict()[key]) for key in copied))
        if not variant.endswith("+"):
            freeze(model, upto=LAYERS[k - 1], bn="freeze")
        before = {layer: stage_state(model, layer) for layer in LAYERS}
        trainable[k, variant] = model.num_parameters(trainable_only=True)
        acc[variant][k] = train(model, "B", seed=1)
        after = {layer: stage_state(model, layer) for layer in LAYERS}
        unchanged[k, variant] = [layer for layer in LAYERS
                                 if all(np.array_equal(before[layer][n], after[layer][n]) for n in before[layer])]
    print(f"k={k} ({'+'.join(LAYERS[:k]) if k < 3 else 'conv1..conv' + str(k)}): "
          + "  ".join(f"{v} {acc[v][k]:.3f}" for v in VARIANTS) + f"   (baseB {acc['baseB']:.3f})")

claim(all(exact), "before training, every copied tensor (weights and BatchNorm statistics) equals "
                  "the base network's")
claim(all(unchanged[k, v] == (list(LAYERS[:k]) if not v.endswith("+") else []) for k in KS for v in VARIANTS),
      "after training, the frozen copies are bit for bit what was copied (BatchNorm statistics "
      "too), and every other layer, fine-tuned copies included, has moved")
claim(all(trainable[a, "AnB"] > trainable[b, "AnB"] for a, b in zip(KS, KS[1:])),
      f"each frozen layer takes its parameters out of training: {trainable[KS[0], 'AnB']:,d} trainable "
      f"at k={KS[0]}, {trainable[KS[-1], 'AnB']:,d} (the head) at k={KS[-1]}")
top = KS[-1]
claim_on("Fashion-MNIST", target, abs(acc["BnB"][top] - acc["baseB"]) <= 0.03,
         f"BnB with all five layers copied frozen (only a new head trained) gives baseB back "
         f"({acc['BnB'][top]:.3f} vs {acc['baseB']:.3f}): nothing co-adapted was broken")
claim_on("Fashion-MNIST", target, acc["AnB"][top] < acc["BnB"][top] - 0.02,
         f"A's top features fit B worse than B's own ({acc['AnB'][top]:.3f} vs {acc['BnB'][top]:.3f}): "
         "the last layer is specific to the classes it was trained on")
claim_on("Fashion-MNIST", target, acc["AnB+"][top] > acc["AnB"][top],
         f"fine-tuning A's copied layers beats freezing them when all are copied "
         f"({acc['AnB+'][top]:.3f} vs {acc['AnB'][top]:.3f})")
middle = [k for k in KS if 1 < k < 5]
dip = {k: acc["baseB"] - acc["BnB"][k] for k in middle}
print(f"\nThis run, one seed and {steps} steps: BnB in the middle layers (k = {', '.join(map(str, middle))}) is "
      + ", ".join(f"{d:+.3f}" for d in dip.values()) + " below baseB; "
      f"AnB goes {acc['AnB'][KS[0]]:.3f} -> {acc['AnB'][top]:.3f} from k={KS[0]} to k={top}. A difference of "
      f"a point or two is within one seed's noise here; the study below averages three seeds.")


# %% [markdown]
# ## The full study, and how this short run differs from it

# %%
section("The full study (benchmarks/yosinski_fashion.py)")
study = REPO / "benchmarks" / "results" / "yosinski_fashion.json"
full = json.loads(study.read_text()) if study.exists() else None
if full:
    cfg, curves = full["config"], full["curves"]
    print(f"{cfg['train_images']} images per half, {cfg['epochs']} epochs, {cfg['seeds']} seeds"
          f"{'' if full.get('complete') else ' (partial: the run had not finished)'}; "
          f"baseB {curves['baseB']['0']['mean']:.3f} ± {curves['baseB']['0']['std']:.3f}")
    for k in range(1, 6):
        print(f"  k={k} " + "  ".join(f"{v} {curves[v][str(k)]['mean']:.3f} ± {curves[v][str(k)]['std']:.3f}"
                                       for v in VARIANTS if str(k) in curves.get(v, {})))
    for key, f in full.get("findings", {}).items():
        if key != "tolerance":
            print(f"  Yosinski's finding {'holds' if f['holds'] else 'does NOT hold'} here: {f['text']}")
    print(f"This lesson trains {steps} steps a run on {len(halves['B'][1])} images; the study "
          f"{cfg['epochs'] * -(-cfg['train_images'] // cfg['batch_size'])} steps on {cfg['train_images']}. "
          "Neither run shows the paper's BnB dip: baseB here is trained for a few epochs, not to "
          "convergence as in the paper, so a copied layer is a head start (BnB+ even rises with k, "
          "being baseB trained longer) and the co-adaptation that frozen copies break has had "
          "little time to form; BatchNorm after every layer, which the 2014 network lacked, also "
          "makes the upper layers easier to re-learn. AnB's fall with k, the general-to-specific "
          "finding, shows in both.")

dissimilar = REPO / "benchmarks" / "results" / "transferability.json"
if dissimilar.exists():
    d = json.loads(dissimilar.read_text())
    c = d["curves"]
    print(f"\nA dissimilar source for comparison (benchmarks/transferability.py: ResNet-20 stages copied from "
          f"CIFAR-10 into a net trained on {d['config']['size']} Fashion-MNIST images): k = 0..4 frozen "
          + " ".join(f"{c['frozen'][str(k)]['mean']:.3f}" for k in range(5)) + ", fine-tuned "
          + " ".join(f"{c['fine-tuned'][str(k)]['mean']:.3f}" for k in range(5))
          + ": the CIFAR-specific top stage frozen costs the most, as AnB's top layers do here.")


# %% [markdown]
# ## Figure

# %%
section("Figure")
fig, axes = plt.subplots(1, 2 if full else 1, figsize=(13 if full else 7, 4.5), squeeze=False)
styles = {"BnB": ("tab:blue", "o", "-"), "BnB+": ("tab:blue", "s", ":"),
          "AnB": ("tab:red", "o", "-"), "AnB+": ("tab:red", "s", ":")}
ax = axes[0, 0]
for v, (color, marker, ls) in styles.items():
    ax.plot(KS, [acc[v][k] for k in KS], color=color, marker=marker, ls=ls, label=v)
ax.axhline(acc["baseB"], color="gray", ls="--", label="baseB")
ax.set(xticks=KS, xlabel="k = layers copied", ylabel="test accuracy on B",
       title=f"{target} halves, this run: {len(halves['B'][1])} images, {steps} steps, one seed")
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8, ncol=2)
if full:
    ax = axes[0, 1]
    for v, (color, marker, ls) in styles.items():
        ks = sorted(int(k) for k in full["curves"].get(v, {}))
        ax.errorbar(ks, [full["curves"][v][str(k)]["mean"] for k in ks],
                    yerr=[full["curves"][v][str(k)]["std"] for k in ks], color=color, marker=marker,
                    ls=ls, capsize=3, label=v)
    b = full["curves"]["baseB"]["0"]
    ax.axhspan(b["mean"] - b["std"], b["mean"] + b["std"], color="gray", alpha=0.2)
    ax.axhline(b["mean"], color="gray", ls="--", label="baseB")
    ax.set(xticks=range(1, 6), xlabel="k = layers copied",
           title=f"the study: {full['config']['train_images']} images, mean ± std of {full['config']['seeds']} seeds")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
lesson.save(fig, "transferability.png")
lesson.done()
