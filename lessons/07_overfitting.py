# %% [markdown]
# # Lesson 7. Under- and overfitting, and the cures: dropout, augmentation, BatchNorm, weight decay, more data.
#
# The lecture on convolution and training CNNs reads learning curves (loss or accuracy against epochs, on training and validation data):
#   * underfitting - the model does badly even on its training data: train longer, with a higher
#     learning rate, or use a bigger/deeper network;
#   * overfitting  - training loss keeps falling while validation loss turns and rises: regularise,
#     or get more data.
# The fine-tuning lecture lists the regularisers (L2 weight decay, dropout, BatchNorm, input noise, data
# augmentation), adding that they "alleviate overfitting, [but do] not train faster". AlexNet, with
# 60 million parameters, needed two of them: augmentation and dropout (the convolution lecture again).
#
# This lesson overfits on purpose: a 64-256-256-10 MLP (83,000 weights) learns from only 100 of
# the 8x8 digits (10 per class), then each cure is added on its own, with the same data, the same
# starting weights and the same optimiser (Adam, lr 3e-3, batches of 25). Validation: 360 other
# digits the network never trains on. Training uses minidl.train.fit.
#
# Run:  python lessons/07_overfitting.py [--quick] [--out DIR]

# %%
"""Under- and overfitting, and the cures: dropout, augmentation, BatchNorm, weight decay, more data."""
import matplotlib.pyplot as plt
import numpy as np
from _common import claim, section, start

import minidl
from minidl import nn, optim
from minidl.data import Compose, DataLoader, GaussianNoise, RandomShift, digits, subset, to_float
from minidl.train import fit

lesson = start("07_overfitting", __doc__)

MEAN, STD = 0.3, 0.37           # the digits' pixel mean and std, to standardise the inputs
full, test = digits("train"), digits("test")
small = subset(full, 10, seed=0)                 # 10 images of each digit: 100 in all


def prepare(images):
    return (to_float(images) - MEAN) / STD       # (N, 1, 8, 8), about zero mean and unit variance


x_small, x_full, x_val = prepare(small.images), prepare(full.images), prepare(test.images)
epochs = lesson.pick(60, 30)
more_epochs = lesson.pick(12, 6)
print(f"training sets: {len(small)} digits (10 per class) or all {len(full)}; validation: "
      f"{len(test)} digits; {epochs} epochs each")


def mlp(width=256, dropout=0.0, batchnorm=False):
    """(N, 1, 8, 8) -> flatten -> 2 x [Linear (-> BatchNorm1d) -> ReLU (-> Dropout)] -> Linear -> (N, 10)."""
    layers, features = [nn.Flatten()], 64
    for _ in range(2):
        layers.append(nn.Linear(features, width))
        if batchnorm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.ReLU())
        if dropout:
            layers.append(nn.Dropout(dropout))
        features = width
    layers.append(nn.Linear(features, 10))
    return nn.Sequential(*layers)


blank = -MEAN / STD             # the standardised value of a white (0) pixel, for shifted-in borders
augment = Compose([RandomShift(1, fill=blank), GaussianNoise(0.5)])
runs = {  # name -> (model, training images, labels, transform, weight decay)
    "baseline (overfits)": (lambda: mlp(), x_small, small.labels, None, 0.0),
    "dropout 0.5": (lambda: mlp(dropout=0.5), x_small, small.labels, None, 0.0),
    "augmentation": (lambda: mlp(), x_small, small.labels, augment, 0.0),
    "BatchNorm": (lambda: mlp(batchnorm=True), x_small, small.labels, None, 0.0),
    "weight decay 1e-2": (lambda: mlp(), x_small, small.labels, None, 1e-2),
    f"more data (all {len(full)})": (lambda: mlp(), x_full, full.labels, None, 0.0),
    "too small (2 units)": (lambda: mlp(width=2), x_small, small.labels, None, 0.0),
}


# %% [markdown]
# ## What augmentation does to a batch

# %%
section("What augmentation does to a batch")
print("Each epoch every training digit is moved by up to one pixel in x and y and gets fresh")
print("Gaussian noise (std 0.5): the net never sees exactly the same image twice. (A horizontal")
print("flip, the lecture's first example, would be wrong here: a mirrored 3 is not a 3.)")
shown = augment(x_small[:8], np.random.default_rng(0))
fig, axes = plt.subplots(2, 8, figsize=(10, 2.8))
for i in range(8):
    axes[0, i].imshow(x_small[i, 0], cmap="gray_r")
    axes[1, i].imshow(shown[i, 0], cmap="gray_r")
    for ax in axes[:, i]:
        ax.set(xticks=[], yticks=[])
axes[0, 0].set_ylabel("original")
axes[1, 0].set_ylabel("augmented")
lesson.save(fig, "augmented_digits.png")


# %% [markdown]
# ## Training

# %%
section("Training")
histories = {}
for name, (make, x, y, transform, decay) in runs.items():
    minidl.manual_seed(0)
    model = make()
    opt = optim.Adam(model.parameters(), lr=3e-3, weight_decay=decay)
    train_loader = DataLoader(x, y, batch_size=25, shuffle=True, seed=0, transform=transform)
    n_epochs = epochs if len(y) == len(small) else more_epochs   # 14x the images per epoch
    h = fit(model, opt, train_loader, DataLoader(x_val, test.labels, batch_size=512),
            epochs=n_epochs, progress=False)
    histories[name] = h
    print(f"  {name:22s} {n_epochs:3d} epochs: train loss {h.train_loss[-1]:.4f} acc {h.train_acc[-1]:.3f} | "
          f"val loss {h.val_loss[-1]:.3f} (lowest {min(h.val_loss):.3f} at epoch {h.best_epoch()}) "
          f"acc {h.val_acc[-1]:.3f}")


def end(name, key):
    return getattr(histories[name], key)[-1]


# %% [markdown]
# ## Reading the curves

# %%
section("Reading the curves")
base = "baseline (overfits)"
hb = histories[base]
claim(end(base, "train_loss") < 0.01 and end(base, "train_acc") == 1.0,
      f"the baseline memorises its 100 digits: training loss {end(base, 'train_loss'):.4f}, accuracy 100%")
claim(end(base, "val_loss") > 1.1 * min(hb.val_loss) and hb.best_epoch() < len(hb.val_loss) // 2,
      f"while its validation loss bottoms out at epoch {hb.best_epoch()} and then RISES "
      f"({min(hb.val_loss):.3f} -> {end(base, 'val_loss'):.3f}): the textbook sign of overfitting")
claim(end(base, "train_acc") - end(base, "val_acc") > 0.05,
      f"and it is right on only {end(base, 'val_acc'):.1%} of unseen digits (a gap of "
      f"{end(base, 'train_acc') - end(base, 'val_acc'):.1%} to training)")
tiny = "too small (2 units)"
claim(end(tiny, "train_acc") < 0.8,
      f"a net with 2 hidden units UNDERFITS: only {end(tiny, 'train_acc'):.1%} right even on its own "
      "training digits: it needs a bigger network (or more training), not regularisation")

more = f"more data (all {len(full)})"
cures = ["dropout 0.5", "augmentation", "BatchNorm", "weight decay 1e-2", more]
for cure in cures:
    claim(end(cure, "val_loss") < end(base, "val_loss"),
          f"{cure}: final validation loss {end(cure, 'val_loss'):.3f} < the baseline's "
          f"{end(base, 'val_loss'):.3f}")
regularisers = cures[:-1]
accs = [end(c, "val_acc") for c in regularisers]
print(f"Accuracy on unseen digits moves much less ({min(accs):.1%} to {max(accs):.1%} with one regulariser,")
print(f"{end(base, 'val_acc'):.1%} without): on 100 images, what they mostly buy is a net that is less")
print("confidently wrong, which is what the validation LOSS measures.")
for cure in ("dropout 0.5", "augmentation"):
    claim(end(cure, "train_loss") > 5 * end(base, "train_loss"),
          f"{cure} keeps the training loss well above the baseline's ({end(cure, 'train_loss'):.4f} vs "
          f"{end(base, 'train_loss'):.4f}): the net can no longer simply memorise")
claim(end(more, "val_acc") > end(base, "val_acc") + 0.02,
      f"and more data helps accuracy most directly: {end(more, 'val_acc'):.1%} on unseen digits after "
      f"{more_epochs} epochs, against the baseline's {end(base, 'val_acc'):.1%}")


# %% [markdown]
# ## Figures

# %%
section("Figures")
names = list(runs)
fig, axes = plt.subplots(2, 4, figsize=(15, 7))
every_loss = np.concatenate([np.r_[h.train_loss, h.val_loss] for h in histories.values()])
for ax, name in zip(axes.flat, names):
    h = histories[name]
    ep = np.arange(1, len(h.train_loss) + 1)
    ax.plot(ep, h.train_loss, label="training")
    ax.plot(ep, h.val_loss, label="validation")
    ax.set(title=name, yscale="log", xlabel="epoch", ylim=(every_loss.min() / 2, every_loss.max() * 2))
axes[0, 0].set_ylabel("loss")
axes[1, 0].set_ylabel("loss")
axes[0, 0].legend()
ax = axes.flat[-1]
ax.barh(names, [end(n, "val_acc") for n in names], color=["C3"] + ["C2"] * 5 + ["C7"])
ax.set(xlim=(0, 1), xlabel="final validation accuracy", title="unseen digits")
ax.tick_params(axis="y", labelleft=True, labelsize=7)
lesson.save(fig, "learning_curves.png")
lesson.done()
