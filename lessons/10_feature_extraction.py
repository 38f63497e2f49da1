# %% [markdown]
# # Lesson 10. Transfer by feature extraction: a frozen network's features and a linear classifier, for a similar and a dissimilar target.
#
# The lectures on deep architectures and on training CNNs, and the lab: instead of training from scratch, take a network trained on a big source task,
# remove its output layer, and use the rest as a fixed feature extractor; a linear classifier
# (logistic regression, or a linear SVM) trained on those "bottleneck features" does the new task.
# Nothing in the body learns, so this needs little data and little time. The fine-tuning
# lecture's table says when it works: with little data and a target *like the source*, a linear
# classifier on the top features is the mode to choose; with a *different* target, take the
# features from earlier in the network, because the last layers are the most specialised.
#
# The lesson measures both rows of that table:
#   1. a similar pair: a small CNN (minidl.models.layered_cnn) trained on five Fashion-MNIST
#      classes (half A) describes the other five (half B): logistic regression on its features
#      with 10 images per class (the layer chosen on held-out validation images), against the
#      raw pixels and a network trained from scratch on the same images, then the study over
#      seeds (benchmarks/which_mode.py);
#   2. a dissimilar pair: ResNet-20 with the published CIFAR-10 weights (colour photos of planes,
#      cars, birds, cats, ...) and Fashion-MNIST (grey clothes): the body frozen (gradients reach
#      the new head only), the output of each stage averaged over positions, from the pretrained
#      network and from the same network with random weights, a logistic regression on each
#      (minidl's, checked against scikit-learn's) and on the raw pixels, the honest baseline.
#
# Run:  python lessons/10_feature_extraction.py [--quick] [--out DIR]

# %%
"""Transfer by feature extraction: a frozen network's features and a linear classifier, for a similar and a dissimilar target."""
import json

import matplotlib.pyplot as plt
import numpy as np
from _common import REPO, claim, claim_on, class_halves, section, start, transfer_target, with_weights

import minidl
from minidl import Tensor, optim
from minidl import functional as F
from minidl.data import DataLoader, held_out, subset
from minidl.data.dataset import Dataset
from minidl.models import layered_cnn
from minidl.models.resnet_cifar import resnet_cifar
from minidl.train import evaluate, fit
from minidl.transfer import (LogisticRegression, extract_features, freeze, replace_head,
                             sklearn_logistic_regression, trainable_summary)

lesson = start("10_feature_extraction", __doc__)
STAGES = ("layer1", "layer2", "layer3")


# %% [markdown]
# ## 1. A similar source: a CNN trained on half A describes half B
#
# Half A: T-shirt/top, Trouser, Coat, Sneaker, Bag; half B: Pullover, Dress, Sandal, Shirt, Ankle
# boot (minidl.data.split_classes(10, seed=1)). The source network learns A from scratch; then
# only 10 labelled images per class of B are available to train on. Which layer to read the
# features from is a choice like a learning rate: it is made on validation images (held out
# from B's training pool, never the test set), then the test set scores that one choice.

# %%
section("1. A similar source: a CNN trained on half A describes half B")
halves, similar_data = class_halves(lesson, per_class_train=lesson.pick(2000, 600), per_class_test=lesson.pick(200, 60))
xa, ya, xa_test, ya_test, _ = halves["A"]
xb_all, yb_all, xb_test, yb_test, b_classes = halves["B"]
pool_b = Dataset(np.arange(len(yb_all)), yb_all, b_classes)
few = subset(pool_b, 10, seed=0).images                                    # 10 per class to train on
held = held_out(pool_b, min(100, len(yb_all) // 5 - 10), seed=0).images    # never among the 10
xb, yb, xb_val, yb_val = xb_all[few], yb_all[few], xb_all[held], yb_all[held]


def train_cnn(net, x, y, epochs, batch):
    opt = optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    loader = DataLoader(x, y, batch, shuffle=True, seed=0)
    fit(net, opt, loader, epochs=epochs, progress=False, scheduler_interval="step",
        scheduler=optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(loader)))
    return net


minidl.manual_seed(0)
net_a = train_cnn(layered_cnn(5, num_classes=5), xa, ya, epochs=3, batch=32)
source_acc = evaluate(net_a, DataLoader(xa_test, ya_test, 250))["accuracy"]
print(f"source: layered_cnn trained on {len(ya)} images of A, {source_acc:.3f} on A's test images")
LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")


def conv_features(net, x):
    """Each conv layer's output for every image: flattened (the "bottleneck features" of the
    lecture's Keras example are the last conv block's output, flattened) and averaged over
    positions (what this network's own head sees)."""
    maps = extract_features(net, LAYERS, x, progress=False)
    return {k: v.reshape(len(v), -1) for k, v in maps.items()}, {k: v.mean(axis=(2, 3)) for k, v in maps.items()}


(flat, pool), (flat_val, _), (flat_test, pool_test) = (conv_features(net_a, x) for x in (xb, xb_val, xb_test))
probes = {layer: LogisticRegression(l2=1e-2).fit(flat[layer], yb) for layer in LAYERS}
validation = {layer: probes[layer].score(flat_val[layer], yb_val) for layer in LAYERS}
similar = {layer: probes[layer].score(flat_test[layer], yb_test) for layer in LAYERS}
similar_pooled = {layer: LogisticRegression(l2=1e-2).fit(pool[layer], yb).score(pool_test[layer], yb_test)
                  for layer in LAYERS}
similar["pixels"] = LogisticRegression(l2=1e-2).fit(xb.reshape(len(xb), -1), yb).score(
    xb_test.reshape(len(xb_test), -1), yb_test)
chosen = max(LAYERS, key=validation.get)
minidl.manual_seed(0)
scratch_net = train_cnn(layered_cnn(5, num_classes=5), xb, yb, epochs=lesson.pick(30, 20), batch=10)
similar["scratch"] = evaluate(scratch_net, DataLoader(xb_test, yb_test, 250))["accuracy"]
print(f"half B, {len(yb)} training images: logistic regression on each layer's features of the A network")
print(f"  validation ({len(yb_val)} held-out B images), flattened: "
      + ", ".join(f"{layer} {validation[layer]:.3f}" for layer in LAYERS) + f"  -> read {chosen}")
print("  test, flattened: " + ", ".join(f"{layer} {similar[layer]:.3f}" for layer in LAYERS))
print("  test, pooled:    " + ", ".join(f"{layer} {similar_pooled[layer]:.3f}" for layer in LAYERS))
print(f"  on the raw pixels {similar['pixels']:.3f}; the same CNN trained from scratch on the {len(yb)} "
      f"images ({lesson.pick(30, 20)} epochs) {similar['scratch']:.3f}; chance {1 / 5:.3f}")
claim_on("Fashion-MNIST", similar_data, similar[chosen] >= similar["scratch"] + 0.02,
         f"with 10 images per class and a similar source, a linear classifier on the source's features "
         f"(the layer the validation images chose, {chosen}) beats the same CNN trained from scratch on "
         f"those images by 2 points or more ({similar[chosen]:.3f} vs {similar['scratch']:.3f}): the lecture's "
         "'little data, similar target' cell")
claim_on("Fashion-MNIST", similar_data, similar["conv5"] >= similar["pixels"] + 0.03,
         f"the source's top features (conv5, flattened) beat a linear classifier on the raw pixels by 3 "
         f"points or more ({similar['conv5']:.3f} vs {similar['pixels']:.3f}): what the source learnt on A "
         "describes B")
print(f"The lecture says 'the top features'; here the validation images chose {chosen}. The top layer "
      "is the one most specialised to A's five classes (its own head only had to tell those apart), "
      "and averaged over positions (the pooled row) the features lose the layout that tells a pullover "
      "from a dress. One run on "
      f"{len(yb_test)} test images moves by a few points with the seed; the study below has seeds.")
study = REPO / "benchmarks" / "results" / "which_mode.json"
if study.exists():
    payload = json.loads(study.read_text())
    table, config = payload["similar"], payload["config"]["similar"]
    print(f"The study (benchmarks/which_mode.py: a source trained on {config['source_images']:,d} A images, "
          f"{payload['config']['seeds']} seeds, {config['test_images']:,d} B test images), by B training images:")
    for n in table["scratch"]:
        print(f"  {n:>5s}: " + ", ".join(f"{m} {table[m][n]['mean']:.3f} ± {table[m][n]['std']:.3f}"
                                         for m in ("scratch", "features", "features (chosen layer)", "all")
                                         if m in table and n in table[m]))
    if "similar/small" in payload.get("verdicts", {}):
        v = payload["verdicts"]["similar/small"]
        print(f"At {v['images']} images the study's winner is {v['winner']}; within the spreads of the "
              f"winner: {', '.join(v['tied_with_winner'])}; layers chosen per seed: "
              f"{', '.join(payload.get('similar_chosen_layers', {}).get(str(v['images']), []))}.")


# %% [markdown]
# ## 2. A dissimilar source: the CIFAR-10 ResNet-20 and Fashion-MNIST

# %%
section("2. A dissimilar source: the CIFAR-10 ResNet-20 and Fashion-MNIST")
source = with_weights(lesson, lambda: resnet_cifar(20, pretrained=True))  # strict: every tensor has its place
print(f"ResNet-20, CIFAR-10 weights: {sum(p.data.size for p in source.parameters()):,d} parameters, "
      f"stages {', '.join(STAGES)} of 16, 32 and 64 channels on 32x32, 16x16 and 8x8 maps")
x_train, y_train, x_test, y_test, classes, target = transfer_target(
    lesson, per_class_train=lesson.pick(100, 30), per_class_test=lesson.pick(100, 50))


# %% [markdown]
# ## 3. Freeze the body, replace the head

# %%
section("3. Freeze the body, replace the head")
model = resnet_cifar(20, pretrained=True)
head = replace_head(model, num_classes=len(classes))   # a fresh Linear(64, 10) for the new classes
freeze(model, upto="layer3")                          # everything before the head; BN statistics too
print(trainable_summary(model, by="stage"))
model.train()                                          # even in training mode ...
loss = F.cross_entropy(model(Tensor(x_train[:16])), Tensor(y_train[:16]))
loss.backward()
body = [p for name, p in model.named_parameters() if not name.startswith("linear")]
claim(all(p.grad is None for p in body) and head.weight.grad is not None,
      f"a backward pass fills the head's gradients and none of the {len(body)} body tensors")
claim(all(np.array_equal(a.data, b.data) for a, b in zip(model.layer1.parameters(), source.layer1.parameters()))
      and np.array_equal(model.bn1.running_mean, source.bn1.running_mean),
      "... and the forward pass in training mode left the frozen BatchNorm statistics alone")


def stage_features(net, images):
    """Each stage's output averaged over positions: {stage: (N, channels)}, from one pass."""
    return {s: f.mean(axis=(2, 3)) for s, f in extract_features(net, STAGES, images, progress=False).items()}


# %% [markdown]
# ## 4. Features: what each stage says about every image

# %%
section("4. Features: what each stage says about every image")
minidl.manual_seed(0)
random_net = resnet_cifar(20)                   # the same architecture, never trained
feats = {}
for name, net in (("pretrained", source), ("random", random_net)):
    feats[name] = (stage_features(net, x_train), stage_features(net, x_test))
    print(f"{name:10s}: " + ", ".join(f"{s} {feats[name][0][s].shape[1]}-d" for s in STAGES))
alone = stage_features(source, x_test[:1])["layer2"]
claim(np.allclose(alone, feats["pretrained"][1]["layer2"][:1], rtol=1e-4, atol=1e-5),
      "in eval mode an image's features do not depend on the batch it comes in")


# %% [markdown]
# ## 5. A linear classifier on each

# %%
section("5. A linear classifier on each")
acc, sk_acc = {}, {}
for name in feats:
    for s in STAGES:
        f_train, f_test = feats[name][0][s], feats[name][1][s]
        acc[name, s] = LogisticRegression(l2=1e-3).fit(f_train, y_train).score(f_test, y_test)
        sk_acc[name, s] = sklearn_logistic_regression(f_train, y_train, l2=1e-3).score(f_test, y_test)
        print(f"{name:10s} {s}: logistic regression {acc[name, s]:.3f}   (scikit-learn {sk_acc[name, s]:.3f})")
pixels = LogisticRegression(l2=1e-3).fit(x_train[:, 0].reshape(len(x_train), -1), y_train)
pixel_acc = pixels.score(x_test[:, 0].reshape(len(x_test), -1), y_test)
print(f"raw pixels ({x_train[0, 0].size}-d): logistic regression {pixel_acc:.3f};  chance {1 / len(classes):.3f}")
worst = max(abs(acc[k] - sk_acc[k]) for k in acc)
claim(worst <= 0.03, f"minidl's logistic regression and scikit-learn's agree on every feature set "
                     f"(largest gap {worst:.3f} <= 0.03): same loss, same optimum")
claim(min(acc.values()) > 3 / len(classes), "every feature set is far better than chance")
best = max(STAGES, key=lambda s: acc["pretrained", s])
claim_on("Fashion-MNIST", target, acc["pretrained", "layer2"] >= acc["pretrained", "layer3"] + 0.02,
      f"for this dissimilar target the middle stage transfers better than the top one "
      f"({acc['pretrained', 'layer2']:.3f} vs {acc['pretrained', 'layer3']:.3f}): the last stage "
      "is specialised to CIFAR-10, as the lectures' table warns")
claim_on("Fashion-MNIST", target, acc["pretrained", "layer2"] >= acc["random", "layer2"] + 0.02,
      f"the pretrained layer2 beats the same layer with random weights "
      f"({acc['pretrained', 'layer2']:.3f} vs {acc['random', 'layer2']:.3f}): what CIFAR-10 taught it transfers")
claim_on("Fashion-MNIST", target, pixel_acc > max(acc["pretrained", s] for s in STAGES),
         f"for this dissimilar pair the raw pixels ({pixel_acc:.3f}) beat every stage's pretrained "
         f"features (best: {best}, {acc['pretrained', best]:.3f})")
print(f"\nSo the lecture's 'different data' row holds only in part here: the middle stage beats the top "
      f"one, as it says, but a linear classifier on the raw pixels beats them all. Grey clothes centred "
      f"on a blank background are nearly linearly separable already, and a "
      f"{feats['pretrained'][0][best].shape[1]}-number summary of a photo network keeps less than the "
      f"{x_train[0, 0].size} pixels do. With a similar source (section 1) the same recipe beats the "
      f"pixels and training from scratch; with this one, fine-tuning is the way to use the "
      "pretrained weights (lesson 11).")


# %% [markdown]
# ## Figures

# %%
section("Figures")
fig, axes = plt.subplots(2, 8, figsize=(12, 3.4))
for k, ax in enumerate(axes.flat):
    i = int(np.flatnonzero(y_train == k % len(classes))[k // len(classes)])
    ax.imshow(x_train[i].transpose(1, 2, 0)[..., 0], cmap="gray")
    ax.set(xticks=[], yticks=[], title=classes[y_train[i]][:11])
fig.suptitle(f"{target} as the source network sees it: padded to 32x32, 3 channels, CIFAR-normalised")
lesson.save(fig, "adapted_inputs.png")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
pos = np.arange(len(STAGES))
for k, name in enumerate(feats):
    ax1.bar(pos + (k - 0.5) * 0.38, [acc[name, s] for s in STAGES], 0.38, label=f"{name} ResNet-20")
ax1.axhline(pixel_acc, color="k", ls="--", label="raw pixels")
ax1.axhline(1 / len(classes), color="gray", ls=":", label="chance")
ax1.set(xticks=pos, xticklabels=[f"{s}\n({feats['pretrained'][0][s].shape[1]}-d)" for s in STAGES],
        ylabel="test accuracy", ylim=(0, 1), title=f"logistic regression on each stage's features ({target})")
ax1.legend(fontsize=8, loc="lower right")
f = feats["pretrained"][1]["layer2"]
f = (f - f.mean(0)) / (f.std(0) + 1e-8)
_, _, vt = np.linalg.svd(f, full_matrices=False)
xy = f @ vt[:2].T                                   # the two main directions of the features (PCA)
for k in range(len(classes)):
    ax2.scatter(*xy[y_test == k].T, s=8, label=classes[k])
ax2.set(title="pretrained layer2 features of the test images, first two principal components",
        xticks=[], yticks=[])
ax2.legend(fontsize=7, markerscale=2, ncol=2)
lesson.save(fig, "features_by_stage.png")
lesson.done()
