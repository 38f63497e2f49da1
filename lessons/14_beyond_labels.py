# %% [markdown]
# # Lesson 14. Beyond labels: one convolutional body, three output layers, three tasks.
#
# The lecture on backpropagation and training, in its landscape of CNN applications, sorts networks by what they output:
#
#     image -> label         classification: one softmax over the classes for the whole image
#     image -> label image   semantic segmentation: a softmax for EVERY pixel ("label map")
#     image -> number(s)     regression: age, or an object's position and size (the first step
#                            of detection: where is it, how big is it?)
#
# The convolutional layers that turn pixels into features do not care which; what changes is the
# last layer and the loss. This lesson generates its own data set (32x32 images of noise with one
# square, disc or triangle of random position, size and brightness) and
#
#   1. trains a small fully convolutional network to label every pixel (background, square, disc,
#      triangle): its output layer is a 1x1 convolution giving (N, 4, 32, 32) scores, and the loss
#      is cross_entropy against (N, 32, 32) labels -- each pixel is one classification;
#   2. keeps that network's body frozen and puts two new heads on its features (feature
#      extraction, as in the deep-architectures lecture and the lab):
#        image -> label    global average pool -> Linear -> (N, 3) scores, cross_entropy vs (N,)
#        image -> numbers  average pool -> flatten -> MLP -> (N, 3) = (x, y, size), mse_loss
#
# Each task is scored against its trivial answer: "everything is background" for the pixels, the
# most common class for the label, and the training mean for the numbers.
#
# Run:  python lessons/14_beyond_labels.py [--quick] [--out DIR]

# %%
"""Beyond labels: one convolutional body, three output layers, three tasks."""
import time

import matplotlib.pyplot as plt
import numpy as np
from _common import claim, section, start

import minidl.functional as F
from minidl import Tensor, nn, no_grad, optim
from minidl.data import DataLoader
from minidl.progress import ProgressBar

lesson = start("14_beyond_labels", __doc__)
rng = lesson.rng

SIZE = 32
SHAPES = ["square", "disc", "triangle"]
PIXEL_CLASSES = ["background"] + SHAPES      # pixel label 0 = background, k = SHAPES[k - 1]


def make_shapes(n, rng):
    """n noisy 32x32 images with one shape each.

    Returns images float32 (n, 1, 32, 32), masks int64 (n, 32, 32) with the pixel classes,
    kinds int64 (n,) in 0..2 (SHAPES) and boxes float32 (n, 3) = (centre x, centre y, r), r being
    the half-width of the shape in pixels.
    """
    kinds = rng.integers(0, 3, n)
    r = rng.uniform(4, 10, n)
    cx = rng.uniform(r, SIZE - 1 - r)                      # the shape always fits in the image
    cy = rng.uniform(r, SIZE - 1 - r)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    dx = xx[None] - cx[:, None, None]                      # (n, 32, 32) offsets from the centre
    dy = yy[None] - cy[:, None, None]
    rr = r[:, None, None]
    square = (np.abs(dx) <= rr) & (np.abs(dy) <= rr)
    disc = dx ** 2 + dy ** 2 <= rr ** 2
    # a triangle with its apex at the top: its half-width grows from 0 to r down its height 2r
    triangle = (np.abs(dy) <= rr) & (np.abs(dx) <= (dy + rr) / 2)
    inside = np.where(kinds[:, None, None] == 0, square,
                      np.where(kinds[:, None, None] == 1, disc, triangle))
    masks = np.where(inside, kinds[:, None, None] + 1, 0).astype(np.int64)
    brightness = rng.uniform(0.5, 1.0, n)[:, None, None]
    images = inside * brightness + rng.normal(0.0, 0.3, (n, SIZE, SIZE))
    boxes = np.stack([cx, cy, r], axis=1).astype(np.float32)
    return images[:, None].astype(np.float32), masks, kinds.astype(np.int64), boxes


# %% [markdown]
# ## A data set made on the spot

# %%
section("A data set made on the spot")
n_train, n_test = lesson.pick(2000, 1000), lesson.pick(1000, 300)
x_train, m_train, k_train, b_train = make_shapes(n_train, rng)
x_test, m_test, k_test, b_test = make_shapes(n_test, rng)
print(f"train: {n_train} images, test: {n_test}; each {x_train.shape[1:]} with noise std 0.3")
print(f"pixel labels {m_train.shape}: {PIXEL_CLASSES}; image labels {k_train.shape}; "
      f"box targets {b_train.shape} = (centre x, centre y, half-width r) in pixels")
background = float((m_test == 0).mean())
print(f"{background:.1%} of the test pixels are background")


# %% [markdown]
# ## 1. Segmentation: a label for every pixel

# %%
section("1. Segmentation: a label for every pixel")


class Body(nn.Module):
    """(N, 1, 32, 32) -> (N, 16, 32, 32) features. Four 3x3 convs with dilations 1, 2, 4, 8 keep
    the full resolution while each output sees a 31x31 window: enough to tell a disc from a square
    of up to 20 pixels across (receptive field 1 + 2 * (1 + 2 + 4 + 8) = 31)."""

    def __init__(self, width=16):
        super().__init__()
        layers, c = [], 1
        for d in (1, 2, 4, 8):
            layers += [nn.Conv2d(c, width, 3, padding=d, dilation=d), nn.BatchNorm2d(width), nn.ReLU()]
            c = width
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


WIDTH = 16
body = Body(WIDTH)
# image -> label image: a 1x1 conv is one Linear layer applied at every pixel
segment = nn.Conv2d(WIDTH, len(PIXEL_CLASSES), 1)
segmenter = nn.Sequential(body, segment)
with no_grad():
    out = segmenter(Tensor(x_train[:2]))
print(f"body: {body.num_parameters()} parameters; output layer Conv2d({WIDTH}, 4, 1): "
      f"{segment.num_parameters()} parameters; output {tuple(out.shape)}")
claim(tuple(out.shape) == (2, len(PIXEL_CLASSES), SIZE, SIZE),
      "the segmentation net outputs 4 class scores for every one of the 32 x 32 pixels")

epochs = lesson.pick(3, 1)
batch_size = lesson.pick(16, 8)
loader = DataLoader(x_train, m_train, batch_size=batch_size, shuffle=True, seed=0)   # label maps
opt = optim.Adam(segmenter.parameters(), lr=3e-3)
# the learning rate follows half a cosine down to 0 over the whole run, stepped every iteration
schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(loader))
print(f"{epochs} epoch(s) of {len(loader)} batches of {batch_size}, Adam from lr 3e-3 on a cosine "
      "schedule, loss = cross_entropy over all N*32*32 pixels")
seg_losses = []
t0 = time.perf_counter()
for epoch in range(1, epochs + 1):
    bar = ProgressBar(len(loader), f"epoch {epoch}/{epochs}")
    for xb, mb in loader:
        loss = F.cross_entropy(segmenter(Tensor(xb)), Tensor(mb))
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        seg_losses.append(loss.item())
        bar.update(1, loss=loss.item())
    bar.close()
print(f"training took {time.perf_counter() - t0:.1f} s")

segmenter.eval()
with no_grad():
    seg_pred = np.concatenate([segmenter(Tensor(x_test[i:i + 100])).numpy().argmax(axis=1)
                               for i in range(0, n_test, 100)])
pixel_acc = float((seg_pred == m_test).mean())
ious = [float(np.sum((seg_pred == k) & (m_test == k)) / np.sum((seg_pred == k) | (m_test == k)))
        for k in range(1, len(PIXEL_CLASSES))]
mean_iou = float(np.mean(ious))
fg_iou = float(np.sum((seg_pred > 0) & (m_test > 0)) / np.sum((seg_pred > 0) | (m_test > 0)))
print(f"pixel accuracy {pixel_acc:.3f} (all-background baseline {background:.3f})")
print("intersection over union, |predicted & true| / |predicted | true| per class: "
      + ", ".join(f"{s} {v:.2f}" for s, v in zip(SHAPES, ious))
      + f"; mean {mean_iou:.2f} (the baseline's is 0: it never marks a shape pixel)")
print(f"object vs background, whatever the shape: IoU {fg_iou:.2f}")
# --quick trains for seconds, so it asks for less; the story is the same
error_cut = lesson.pick(0.25, 0.7)
claim(1 - pixel_acc < error_cut * (1 - background),
      f"the net gets fewer than {error_cut:.0%} as many pixels wrong as the all-background answer "
      f"({1 - pixel_acc:.3f} vs {1 - background:.3f})")
iou_floor = lesson.pick(0.6, 0.15)
claim(mean_iou > iou_floor, f"mean IoU of the three shapes {mean_iou:.2f} > {iou_floor}")


# %% [markdown]
# ## 2. New heads on the frozen body: a label, and three numbers

# %%
section("2. New heads on the frozen body: a label, and three numbers")
body.requires_grad_(False)           # frozen: only the new heads learn
gap = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())   # (N, 16, 32, 32) -> (N, 16)
coarse = nn.Sequential(nn.AvgPool2d(4), nn.Flatten())        # (N, 16, 32, 32) -> (N, 16*8*8)
# The body and the pooling have no trainable weights any more, so their outputs are computed
# once and the heads train on them (that is what makes feature extraction cheap).


def features(x):
    with no_grad():
        maps = [body(Tensor(x[i:i + 100])) for i in range(0, len(x), 100)]
        return (np.concatenate([gap(m).numpy() for m in maps]),
                np.concatenate([coarse(m).numpy() for m in maps]))


t0 = time.perf_counter()
(g_train, c_train), (g_test, c_test) = features(x_train), features(x_test)
print(f"features of {n_train + n_test} images in {time.perf_counter() - t0:.1f} s: pooled "
      f"{g_train.shape[1:]} for the label, an 8x8 map {c_train.shape[1:]} for the numbers "
      "(position needs a map: a global average would forget where the object is)")
# The label head sees 16 averages of very different scales: standardise them with the training
# set's mean and spread, as one would before a logistic regression.
g_mean, g_std = g_train.mean(axis=0), g_train.std(axis=0)
g_train, g_test = (g_train - g_mean) / g_std, (g_test - g_mean) / g_std
classify = nn.Linear(WIDTH, 3)                                           # -> (N, 3) class scores
regress = nn.Sequential(nn.Linear(WIDTH * 8 * 8, 64), nn.ReLU(), nn.Linear(64, 3))  # -> (N, 3)
# The numbers are standardised (zero mean, unit variance per column) for training, so x, y and
# size count equally in the mean squared error; predictions are mapped back to pixels.
box_mean, box_std = b_train.mean(axis=0), b_train.std(axis=0)
head_epochs = lesson.pick(60, 30)
head_losses = {"label": [], "numbers": []}
for name, head, inputs, loss_fn, target in (
        ("label", classify, g_train, F.cross_entropy, k_train),
        ("numbers", regress, c_train, F.mse_loss, ((b_train - box_mean) / box_std).astype(np.float32))):
    opt = optim.Adam(head.parameters(), lr=3e-3)
    head_loader = DataLoader(inputs, target, batch_size=64, shuffle=True, seed=1)
    for _ in range(head_epochs):
        for fb, tb in head_loader:
            loss = loss_fn(head(Tensor(fb)), Tensor(tb))
            opt.zero_grad()
            loss.backward()
            opt.step()
        head_losses[name].append(loss.item())
    print(f"  head for the {name:7s}: {head.num_parameters():6d} parameters, {head_epochs} epochs, "
          f"last batch loss {head_losses[name][-1]:.3f}")

with no_grad():
    cls_pred = classify(Tensor(g_test)).numpy().argmax(axis=1)
    box_pred = regress(Tensor(c_test)).numpy() * box_std + box_mean
cls_acc = float((cls_pred == k_test).mean())
majority = float(np.bincount(k_test, minlength=3).max() / n_test)
print(f"label:   accuracy {cls_acc:.3f} (most-common-class baseline {majority:.3f})")
mse = ((box_pred - b_test) ** 2).mean(axis=0)
mse_mean = ((box_mean - b_test) ** 2).mean(axis=0)
for j, name in enumerate(("centre x", "centre y", "size r")):
    print(f"numbers: {name:8s} RMSE {np.sqrt(mse[j]):.2f} px (always answering the mean: "
          f"{np.sqrt(mse_mean[j]):.2f} px)")
claim(cls_acc > majority + lesson.pick(0.4, 0.15),
      f"the label head is far better than the most common class ({cls_acc:.3f} vs {majority:.3f})")
claim(np.all(mse < lesson.pick(0.2, 0.5) * mse_mean),
      f"every number's mean squared error is below {lesson.pick(0.2, 0.5):.0%} of predicting the "
      f"mean (ratios {', '.join(f'{v:.2f}' for v in mse / mse_mean)})")


# %% [markdown]
# ## The output layer is what changes

# %%
section("The output layer is what changes")
rows = [("segmentation", "image -> label image", "Conv2d(16, 4, 1)", "(N, 4, 32, 32)",
         "cross_entropy vs (N, 32, 32)"),
        ("classification", "image -> label", "avg pool + Linear(16, 3)", "(N, 3)",
         "cross_entropy vs (N,)"),
        ("regression", "image -> numbers", "pool + Linear-ReLU-Linear", "(N, 3)",
         "mse_loss vs (N, 3)")]
for row in rows:
    print("  {:15s} {:22s} {:27s} {:15s} {}".format(*row))


# %% [markdown]
# ## Figures

# %%
section("Figures")
show = 8
# the first test images of each shape, taking turns, so every shape appears
picked = [int(np.flatnonzero(k_test == k)[j]) for j in range(3) for k in range(3)][:show]
fig, axes = plt.subplots(3, show, figsize=(2 * show, 6.6))
cmap = plt.get_cmap("tab10", len(PIXEL_CLASSES))
for col, i in enumerate(picked):
    ax_img, ax_true, ax_pred = axes[:, col]
    ax_img.imshow(x_test[i, 0], cmap="gray")
    cx, cy, r = box_pred[i]
    ax_img.add_patch(plt.Rectangle((cx - r, cy - r), 2 * r, 2 * r, fill=False, color="yellow"))
    right = cls_pred[i] == k_test[i]
    ax_img.set_title(SHAPES[cls_pred[i]] + ("" if right else f" (true {SHAPES[k_test[i]]})"),
                     fontsize=8, color="green" if right else "red")
    ax_true.imshow(m_test[i], cmap=cmap, vmin=-0.5, vmax=len(PIXEL_CLASSES) - 0.5)
    ax_pred.imshow(seg_pred[i], cmap=cmap, vmin=-0.5, vmax=len(PIXEL_CLASSES) - 0.5)
    for ax in (ax_img, ax_true, ax_pred):
        ax.set_xticks([])
        ax.set_yticks([])
axes[0, 0].set_ylabel("input, label and\nbox (x, y, r) in yellow", fontsize=8)
axes[1, 0].set_ylabel("true label map", fontsize=8)
axes[2, 0].set_ylabel("predicted label map", fontsize=8)
handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(k)) for k in range(len(PIXEL_CLASSES))]
fig.legend(handles, PIXEL_CLASSES, loc="lower center", ncol=4)
fig.suptitle("one body, three output layers: a label per pixel, a label per image, a box")
fig.tight_layout(rect=(0, 0.07, 1, 1))
lesson.save(fig, "predictions.png")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
v = np.array(seg_losses)
ax1.plot(v, color="C0", alpha=0.3, label="per batch")
if len(v) >= 10:
    ax1.plot(np.arange(9, len(v)), np.convolve(v, np.ones(10) / 10, mode="valid"), color="C0",
             label="moving average of 10")
ax1.set(yscale="log", xlabel="iteration", ylabel="per-pixel cross-entropy",
        title="training the segmentation net")
ax1.legend()
names = ["pixel error", "1 - mean IoU", "label error", "box MSE / mean's"]
model_err = [1 - pixel_acc, 1 - mean_iou, 1 - cls_acc, float(np.mean(mse / mse_mean))]
base_err = [1 - background, 1.0, 1 - majority, 1.0]
xs = np.arange(len(names))
ax2.bar(xs - 0.2, base_err, 0.4, label="trivial answer", color="0.6")
ax2.bar(xs + 0.2, model_err, 0.4, label="network", color="C2")
ax2.set_xticks(xs, names)
ax2.set(ylabel="error (lower is better)", title="each task against its trivial answer")
ax2.legend()
lesson.save(fig, "errors_vs_baselines.png")
lesson.done()
