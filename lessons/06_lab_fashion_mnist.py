# %% [markdown]
# # Lesson 6. The lab's CNN on Fashion-MNIST: train it, then look at what it learned and where it fails.
#
# The lab on CNN layer arithmetic designs this network for Fashion-MNIST's 28x28 grayscale images of 10
# kinds of clothing:
#
#     [INPUT] -> [CONV 1] -> [BATCH NORM] -> [ReLU] -> [POOL 1]
#             -> [CONV 2] -> [BATCH NORM] -> [ReLU] -> [POOL 2] -> [FC LAYER] -> [RESULT]
#
# with 16 then 32 kernels of 5x5, stride 1, padding 2, and 2x2 max-pools with stride 2, so the
# sizes go 28 -> 28 -> 14 -> 14 -> 7 by W_out = (W - F + 2P)/S + 1 and the FC layer maps
# 7*7*32 = 1568 numbers to 10 class scores. minidl.models.lab6.lab6_cnn builds exactly that.
#
# The lesson trains it with minidl.train.fit on a class-balanced part of the training set (the
# whole set takes minutes per epoch on two cores; the benchmark in benchmarks/ trains on all of
# it), then draws the learning curves, the confusion matrix, the 16 first-layer filters and a
# grid of the test images it gets wrong. If Fashion-MNIST is not on this machine it says how to
# get it and runs the same lesson on scikit-learn's 8x8 digits instead.
#
# Run:  python lessons/06_lab_fashion_mnist.py [--quick] [--out DIR]

# %%
"""The lab's CNN on Fashion-MNIST: train it, then look at what it learned and where it fails."""
import json

import numpy as np
from _common import REPO, claim, section, start

import minidl
from minidl import Tensor, no_grad, optim, plot
from minidl.data import DataLoader, DatasetNotFoundError, digits, fashion_mnist, prepare, subset
from minidl.models.lab6 import digits_cnn, lab6_cnn
from minidl.train import evaluate, fit

lesson = start("06_lab_fashion_mnist", __doc__)


# %% [markdown]
# ## The data

# %%
section("The data")
try:
    train_set = fashion_mnist("train", download=False)
    test_set = fashion_mnist("test", download=False)
    fashion = True
    print(f"Fashion-MNIST: {len(train_set)} training and {len(test_set)} test images, 28x28, "
          f"10 classes: {', '.join(train_set.classes)}")
except DatasetNotFoundError as err:
    fashion = False
    print(f"NOTE: Fashion-MNIST is not on this machine, so this run uses scikit-learn's 8x8 "
          f"digits and a smaller CNN of the same design (minidl.models.lab6.digits_cnn).\n{err}")
    train_set, test_set = digits("train"), digits("test")
    print(f"digits: {len(train_set)} training and {len(test_set)} test images, 8x8")
classes = train_set.classes

# A class-balanced part of the training set to learn from, and a separate validation part
# (never trained on) to draw the learning curves with; the test set is kept for the end.
if fashion:
    per_class_train, per_class_val = lesson.pick(1000, 60), lesson.pick(100, 20)
    per_class_test = lesson.pick(200, 40)
else:
    per_class_train, per_class_val, per_class_test = lesson.pick(110, 60), 20, lesson.pick(30, 20)
pool = subset(train_set, per_class_train + per_class_val, seed=0)
test = subset(test_set, per_class_test, seed=0)
# Pixels in [0, 1] (N, 1, H, W), the validation part split off, then all standardised with the
# training images' mean and spread (one number each for the one channel).
data = prepare(pool, test, val_fraction=per_class_val / (per_class_train + per_class_val), seed=0)
(x_train, y_train), (x_val, y_val), (x_test, y_test) = data.train, data.val, data.test
print(f"learning from {len(y_train)} images ({per_class_train} per class), validating on "
      f"{len(y_val)}, testing on {len(y_test)} ({per_class_test} per class) of the test set")
print(f"pixels standardised with the training mean {data.mean:.3f} and std {data.std:.3f}")


# %% [markdown]
# ## The network

# %%
section("The network")
model = lab6_cnn() if fashion else digits_cnn()
size = x_train.shape[-1]
print(model.summary((1, 1, size, size)))
if fashion:
    shapes = []
    h = Tensor(x_train[:1])
    with no_grad():
        for layer in model.features:
            h = layer(h)
            shapes.append(tuple(h.shape[1:]))
    claim(shapes[0] == (16, 28, 28) and shapes[3] == (16, 14, 14) and shapes[4] == (32, 14, 14)
          and shapes[7] == (32, 7, 7),
          "the sizes are the lab's: conv1 28x28x16, pool1 14x14x16, conv2 14x14x32, pool2 7x7x32")
    claim(model.classifier.weight.shape == (10, 7 * 7 * 32),
          "the FC layer maps 7*7*32 = 1568 features to the 10 classes")


# %% [markdown]
# ## Training

# %%
section("Training")
epochs = lesson.pick(3, 1) if fashion else lesson.pick(10, 3)   # the digits are tiny and quick
batch_size = lesson.pick(64, 32)
opt = optim.Adam(model.parameters(), lr=1e-3)
schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
train_loader = DataLoader(x_train, y_train, batch_size, shuffle=True, seed=0)
val_loader = DataLoader(x_val, y_val, 500)
print(f"{epochs} epoch(s) of {len(train_loader)} mini-batches of {batch_size}; Adam, lr 1e-3 "
      "annealed along half a cosine; loss = cross-entropy")
w_start = minidl.backend.to_device(model.features[0].weight.data, "cpu").copy()
history = fit(model, opt, train_loader, val_loader, epochs=epochs, scheduler=schedule)
for e in history.epochs:
    print(f"  epoch {e['epoch']}: train loss {e['train_loss']:.3f} acc {e['train_acc']:.3f} | "
          f"validation loss {e['val_loss']:.3f} acc {e['val_acc']:.3f} | {e['seconds']:.1f} s")
plot.learning_curves(history, lesson.out / "learning_curves.png",
                     title=f"lab CNN, {len(y_train)} training images")
print(f"figure: {lesson.out / 'learning_curves.png'}")


# %% [markdown]
# ## Testing

# %%
section("Testing")
result = evaluate(model, DataLoader(x_test, y_test, 500))
acc = result["accuracy"]
cm = result["confusion_matrix"]
print(f"test accuracy {acc:.3f} on {result['num_samples']} test images (chance: 0.100)")
print("per class (recall = right / all of that class):")
recall = np.diag(cm) / cm.sum(axis=1)
for k in np.argsort(recall):
    print(f"  {classes[k]:12s} {recall[k]:.2f}")
hardest = [classes[k] for k in np.argsort(recall)[:3]]
floor = lesson.pick(0.85, 0.5)
claim(acc > floor, f"test accuracy {acc:.3f} > {floor:.2f}"
      + (" (a short run on little data; chance is 0.10)" if lesson.quick
         else " (the lab CNN after a few minutes on a sixth of the training set)" if fashion
         else ""))
plot.confusion_matrix(cm, classes, lesson.out / "confusion_matrix.png")
print(f"figure: {lesson.out / 'confusion_matrix.png'}")


# %% [markdown]
# ## Which classes does it mix up?

# %%
section("Which classes does it mix up?")
both_ways = cm + cm.T                    # i taken for j plus j taken for i
np.fill_diagonal(both_ways, 0)
i, j = np.unravel_index(np.argmax(both_ways), both_ways.shape)
print(f"the most confused pair: {classes[i]} and {classes[j]}: {cm[i, j]} {classes[i]} called "
      f"{classes[j]}, {cm[j, i]} the other way round")
order = np.dstack(np.unravel_index(np.argsort(-both_ways, axis=None), both_ways.shape))[0]
pairs = [(a, b) for a, b in order if a < b][:5]
print("the five most confused pairs: " + "; ".join(f"{classes[a]}/{classes[b]} {both_ways[a, b]}"
                                                    for a, b in pairs))
if fashion:
    tops = {"T-shirt/top", "Pullover", "Coat", "Shirt", "Dress"}
    claim({classes[i], classes[j]} <= tops,
          "it is two garments worn on the upper body: at 28x28 in gray, their outlines are "
          "nearly the same (shirt vs T-shirt/top is the classic pair)")
    claim("Shirt" in hardest, f"Shirt is among the three hardest classes ({', '.join(hardest)}): "
          "it looks like a T-shirt, a pullover and a coat at once")


# %% [markdown]
# ## What the first layer learned

# %%
section("What the first layer learned")
w = model.features[0].weight
plot.filter_grid(w, lesson.out / "first_layer_filters.png",
                 title="the 16 first-layer filters (5x5; red positive, blue negative)")
print(f"figure: {lesson.out / 'first_layer_filters.png'}")
w_end = minidl.backend.to_device(w.data, "cpu")
moved = float(np.linalg.norm(w_end - w_start) / np.linalg.norm(w_start))
print(f"training moved the first-layer weights by {moved:.0%} of their starting size")
claim(moved > lesson.pick(0.1, 0.02), "the first-layer filters were learned, not left at their random start "
      f"(||W_end - W_start|| / ||W_start|| = {moved:.2f})")
# What the filters respond to: the 16 feature maps of conv 1 (after batch norm and ReLU) for
# one test image, each shown with its own contrast.
k = int(np.flatnonzero(test.labels == 9)[0]) if fashion else 0   # an ankle boot
model.eval()
with no_grad():
    maps = model.features[:3](Tensor(x_test[k:k + 1])).numpy()[0]      # (16, H, W)
plot.image_grid(np.concatenate([x_test[k:k + 1, 0], maps]), list(range(17)),
                class_names=[f"input: {classes[test.labels[k]]}"] + [f"map {f}" for f in range(16)],
                path=lesson.out / "first_layer_maps.png", ncols=9, max_images=17,
                title="one test image and its 16 first-layer feature maps (after BN and ReLU)")
print(f"figure: {lesson.out / 'first_layer_maps.png'}")


# %% [markdown]
# ## A grid of mistakes

# %%
section("A grid of mistakes")
wrong = np.flatnonzero(result["predictions"] != result["targets"])
print(f"{len(wrong)} of {len(test)} test images are misclassified; the first 32:")
plot.image_grid(test.images[wrong], result["targets"][wrong], result["predictions"][wrong], classes,
                lesson.out / "mistakes.png", max_images=32)
print(f"figure: {lesson.out / 'mistakes.png'}")


# %% [markdown]
# ## The same network on the whole training set
#
# This lesson trains on a part of the data for a few epochs. benchmarks/lab6_best.py trains the
# same 29,034 parameters on all 60,000 images: the lab's 5-epoch recipe over several seeds, and a
# longer recipe (mirrored images, label smoothing, a one-cycle schedule, a moving average of the
# weights) run for 10 minutes of training. Their committed results are printed here when they exist.

# %%
section("The same network on the whole training set (benchmarks/lab6_best.py)")
for name in ("lab6_lab5_seeds", "lab6_best"):
    study = REPO / "benchmarks" / "results" / f"{name}.json"
    if not study.exists():
        print(f"{study.name}: not run yet")
        continue
    r = json.loads(study.read_text())
    final, run = r["final_test_accuracy"], r["runs"][0]
    mirror = [x["mirror_test_accuracy"] for x in r["runs"] if "mirror_test_accuracy" in x]
    print(f"{r['benchmark']}: {len(run['epochs'])} epochs, test accuracy {final['mean']:.2%} ± {final['std']:.2%} over "
          f"{len(final['per_seed'])} seed(s), {run['train_minutes']:.1f} min of training each"
          + (f"; averaging each test image's logits with its mirror's: {mirror[0]:.2%}" if mirror else "")
          + f"\n    ({r['command']})")
lesson.done()
