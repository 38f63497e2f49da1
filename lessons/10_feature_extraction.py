# %% [markdown]
# # Lesson 10. Transfer by feature extraction: a CIFAR-10 ResNet-20, frozen, describes Fashion-MNIST images.
#
# The lectures on deep architectures and on training CNNs, and the lab: instead of training from scratch, take a network trained on a big source task,
# remove its output layer, and use the rest as a fixed feature extractor; a linear classifier
# (logistic regression, or a linear SVM) trained on those "bottleneck features" does the new task.
# Nothing in the body learns, so this needs little data and little time.
#
# Here the source is ResNet-20 with the published CIFAR-10 weights (colour photos of planes,
# cars, birds, cats, ...), and the target is Fashion-MNIST (grey clothes): two data sets that are
# NOT similar. The lectures' table for that case says: with little data, train a classifier on
# deep features taken from somewhere inside the network rather than only at its top, because the
# last layers are the most specialised to the source task. The lesson
#   1. loads the source network and adapts the target images to its input,
#   2. freezes the body: gradients reach the new head and nothing else,
#   3. takes the output of each stage (layer1, layer2, layer3), averaged over positions, for every
#      image, from the pretrained network and from the same network with random weights,
#   4. trains logistic regression on each (minidl's, checked against scikit-learn's on the same
#      features), with a logistic regression on the raw pixels as the honest baseline.
#
# Run:  python lessons/10_feature_extraction.py [--quick] [--out DIR]

# %%
"""Transfer by feature extraction: a CIFAR-10 ResNet-20, frozen, describes Fashion-MNIST images."""
import matplotlib.pyplot as plt
import numpy as np
from _common import claim, claim_on, section, start, transfer_target

import minidl
from minidl import Tensor
from minidl import functional as F
from minidl.models.resnet_cifar import resnet_cifar
from minidl.transfer import (LogisticRegression, extract_features, freeze, replace_head,
                             sklearn_logistic_regression, trainable_summary)

lesson = start("10_feature_extraction", __doc__)
STAGES = ("layer1", "layer2", "layer3")


# %% [markdown]
# ## 1. The source network and the target images

# %%
section("1. The source network and the target images")
source = resnet_cifar(20, pretrained=True)          # strict: every checkpoint tensor has its place
print(f"ResNet-20, CIFAR-10 weights: {sum(p.data.size for p in source.parameters()):,d} parameters, "
      f"stages {', '.join(STAGES)} of 16, 32 and 64 channels on 32x32, 16x16 and 8x8 maps")
x_train, y_train, x_test, y_test, classes, target = transfer_target(
    lesson, per_class_train=lesson.pick(100, 30), per_class_test=lesson.pick(100, 50))


# %% [markdown]
# ## 2. Freeze the body, replace the head

# %%
section("2. Freeze the body, replace the head")
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
# ## 3. Features: what each stage says about every image

# %%
section("3. Features: what each stage says about every image")
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
# ## 4. A linear classifier on each

# %%
section("4. A linear classifier on each")
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
print(f"\nThe honest baseline: on {target} a linear classifier on the raw pixels reaches {pixel_acc:.3f}. "
      f"Grey clothes centred on a blank background are nearly linearly separable already, and a "
      f"{feats['pretrained'][0][best].shape[1]}-number summary of a photo network keeps less than the "
      f"{x_train[0, 0].size} pixels do. Feature extraction shines when source and target are similar "
      "(see lesson 11's table); here fine-tuning, or features from a network trained on similar "
      "images, would be the next step.")


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
