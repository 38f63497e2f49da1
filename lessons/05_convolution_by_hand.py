# %% [markdown]
# # Lesson 5. Convolution by hand: the convolution lecture's "loopy pattern" demo, computed three ways and checked against the slides.
#
# The lecture on convolution and training CNNs convolves two 7x5 images of +-1 pixels (a hand-drawn "9" and a "6"-like shape) with a
# 3x3 "loopy pattern" filter (1/9 everywhere, -1/9 at the centre), applies ReLU to the 5x3 feature
# map, and max-pools it to 4x2. This lesson recomputes those numbers:
#   1. with plain Python loops over NumPy arrays (deliberately by hand, as the slides do),
#   2. with im2col: every 3x3 window copied into a column, then ONE matrix product
#      (minidl.functional.conv.im2col, the routine minidl's conv2d is built on),
#   3. with minidl itself: F.conv2d, F.relu, F.max_pool2d,
# and compares them with the numbers printed on the slides, which are cut to two decimals
# (-5/9 = -0.555... is printed -0.55). Some printed cells do not follow from the printed input and
# filter; the lesson finds them and says why they must be transcription errors. It ends with the
# lab's output-size formula W_out = (W - F + 2P) / S + 1 (from the lab on CNN layer arithmetic) and a convolution written as one
# matrix acting on the whole image.
#
# Run:  python lessons/05_convolution_by_hand.py [--quick] [--out DIR]

# %%
"""Convolution by hand: the convolution lecture's "loopy pattern" demo, computed three ways and checked against the slides."""
import itertools

import matplotlib.pyplot as plt
import numpy as np
from _common import claim, section, start

import minidl.functional as F
from minidl import Tensor, nn
from minidl.functional import by_definition
from minidl.functional.conv import im2col
from minidl.data.lecture import DEMO_INPUTS, LOOPY_FILTER, PRINTED_FEATURE_MAPS, PRINTED_POOLED, PRINTED_RELU
from minidl.geometry import output_size

lesson = start("05_convolution_by_hand", __doc__)



def as_printed(v):
    """Cut to two decimals as the slides do: -5/9 -> -0.55, 1/9 -> 0.11 (rounding first to 1e-9
    so that a sum that came out as 0.99999999 still reads 1)."""
    return np.trunc(np.round(np.asarray(v) * 100, 6)) / 100


def ninths(v):
    return f"{int(round(v * 9)):+d}/9"


# %% [markdown]
# ## 1. By hand: two loops per output

# %%
section("1. By hand: two loops per output")
print("loopy pattern filter (x 9):\n", (LOOPY_FILTER * 9).round().astype(int))
print("Note: CNN 'convolution' slides the filter without flipping it (cross-correlation). This")
print("filter is symmetric, so flipped or not gives the same numbers.")


def conv_loop(image, kernel):
    """One image, one filter: for every output pixel, one window times the filter, summed.
    (minidl.functional.by_definition.conv2d, the definition as loops, on a batch of one.)"""
    return by_definition.conv2d(image[None, None], kernel[None, None])[0, 0]


def max_pool_loop(fmap, size, stride):
    """The largest value of every size x size window (by_definition.max_pool2d)."""
    return by_definition.max_pool2d(fmap[None, None], size, stride)[0, 0]


by_loop = []
for d, image in enumerate(DEMO_INPUTS, 1):
    fmap = conv_loop(image, LOOPY_FILTER)
    relu = np.maximum(fmap, 0)
    pooled = max_pool_loop(relu, 2, 1)
    by_loop.append((fmap, relu, pooled))
    print(f"demo {d}: input 7x5 -> feature map {fmap.shape} (in ninths):\n", (fmap * 9).round().astype(int))
    print(f"  ReLU, then 2x2 max-pooling with stride 1 -> {pooled.shape}:\n", as_printed(pooled))
claim(by_loop[0][2].shape == (4, 2),
      "2x2 pooling with stride 1 turns the 5x3 map into the lecture's 4x2")
claim(max_pool_loop(by_loop[0][1], 2, 2).shape == (2, 1),
      "with stride 2 (the usual choice) it would be 2x1: so the slides used stride 1")


# %% [markdown]
# ## 2. im2col: all windows as columns, then one matrix product

# %%
section("2. im2col: all windows as columns, then one matrix product")
x = np.stack(DEMO_INPUTS)[:, None]                      # (N=2, C=1, H=7, W=5)
cols = im2col.reference(x, 3, 3)                        # (9, 30): one column per window of the batch
print(f"im2col turns the two 7x5 images into one {cols.shape[0]}x{cols.shape[1]} matrix: row r holds "
      "pixel (r // 3, r % 3) of every 3x3 window; columns 0-14 are image 1's windows in output order,"
      " columns 15-29 image 2's.")
by_matmul = (LOOPY_FILTER.reshape(1, 9) @ cols).reshape(2, 5, 3)      # (1, 9) @ (9, 30): the whole batch
for d in range(2):
    claim(np.allclose(by_matmul[d], by_loop[d][0], atol=1e-12),
          f"demo {d + 1}: filter row (1x9) @ columns (9x30), its part reshaped to 5x3, equals the loop")


# %% [markdown]
# ## 3. minidl: F.conv2d, F.relu, F.max_pool2d

# %%
section("3. minidl: F.conv2d, F.relu, F.max_pool2d")
weight = Tensor(LOOPY_FILTER[None, None])                      # (F=1, C=1, 3, 3)
fmaps = F.conv2d(Tensor(x), weight)                     # (2, 1, 5, 3)
pooled = F.max_pool2d(F.relu(fmaps), kernel_size=2, stride=1)
print(f"conv2d {x.shape} -> {fmaps.shape}, relu, max_pool2d(2, stride=1) -> {pooled.shape}")
for d in range(2):
    claim(np.allclose(fmaps.numpy()[d, 0], by_loop[d][0], atol=1e-12)
          and np.allclose(pooled.numpy()[d, 0], by_loop[d][2], atol=1e-12),
          f"demo {d + 1}: minidl's feature map and pooled output equal the hand loop")


# %% [markdown]
# ## 4. Against the slides

# %%
section("4. Against the slides")
print("Every output is a sum of nine terms +-1/9 (eight +-1 pixels times 1/9, and the centre pixel")
print("times -1/9). A sum of nine odd numbers is odd, so EVERY entry of the feature map of ANY")
print("+-1 image is an odd number of ninths: +-1/9, +-3/9, +-5/9, +-7/9 or +-9/9.")
possible = sorted({float(as_printed(k / 9)) for k in range(-9, 10, 2)})
print("printed, those are:", possible)
claim(all(np.all(np.round(f * 9) % 2 == 1) for f, _, _ in by_loop),
      "both computed feature maps hold only odd ninths")
mismatches = []
for d in range(2):
    fmap, relu, pooled_d = by_loop[d]
    bad = np.argwhere(as_printed(fmap) != PRINTED_FEATURE_MAPS[d])
    print(f"demo {d + 1}: {len(bad)} of 15 printed feature-map cells disagree with the computation:")
    for i, j in bad:
        printed = PRINTED_FEATURE_MAPS[d][i, j]
        why = "" if printed in possible else "  <- not an odd number of ninths: impossible for any +-1 input"
        print(f"    [{i},{j}] printed {printed:+.2f}, computed {ninths(fmap[i, j])} = {fmap[i, j]:+.4f} "
              f"(printed as {as_printed(fmap[i, j]):+.2f}); off by {abs(printed - as_printed(fmap[i, j])):.2f}{why}")
    mismatches.append({tuple(int(v) for v in ij) for ij in bad})
claim(mismatches[0] == {(3, 0), (3, 2), (4, 1)},
      "demo 1: exactly cells [3,0], [3,2] (the slide's 4th row) and [4,1] (5th row) disagree; "
      "all 12 others match")
claim(mismatches[1] == {(1, 2), (2, 2)},
      "demo 2: exactly cells [1,2] and [2,2] disagree; all 13 others match")
claim(not {-0.22, 0.22} & set(possible),
      "demo 1's printed -0.22 (= -2/9) cannot come out of ANY +-1 image with this filter")

# Could the slide's demo-2 map come from an input with one or two pixels misprinted? Try them all
# at once: a batch of every image that differs from demo 2's in one or two pixels, one conv2d call.
flips = [c for k in (1, 2) for c in itertools.combinations(range(35), k)]
candidates = np.repeat(DEMO_INPUTS[1].reshape(1, 35), len(flips), axis=0)
for row, pixels in enumerate(flips):
    candidates[row, list(pixels)] *= -1
maps = F.conv2d(Tensor(candidates.reshape(-1, 1, 7, 5)), weight).numpy()[:, 0]
explained = [p for p, m in zip(flips, maps) if np.array_equal(as_printed(m), PRINTED_FEATURE_MAPS[1])]
claim(not explained,
      f"none of the {len(flips)} inputs that differ from demo 2's in one or two pixels gives its printed "
      "feature map either: the wrong cells were typed wrong, not computed from another image")

relu_ok = np.array_equal(as_printed(by_loop[0][1]), PRINTED_RELU[0])
pool_ok = np.array_equal(as_printed(by_loop[0][2]), PRINTED_POOLED[0])
claim(relu_ok and pool_ok,
      "demo 1: the ReLU map and the pooled 4x2 output match the slides EXACTLY - every wrong cell "
      "is negative both as printed and as computed, and ReLU turns both into 0")
claim(np.array_equal(np.maximum(PRINTED_FEATURE_MAPS[1], 0), PRINTED_RELU[1])
      and np.array_equal(max_pool_loop(PRINTED_RELU[1], 2, 1), PRINTED_POOLED[1]),
      "demo 2: the slide's ReLU and pooled maps follow correctly from its (wrong) feature map")
true_pooled = as_printed(by_loop[1][2])
diff = np.argwhere(true_pooled != PRINTED_POOLED[1])
print("demo 2's true pooled output (in ninths):\n", (by_loop[1][2] * 9).round().astype(int))
print("  it differs from the slide at", ", ".join(f"[{i},{j}] (slide {PRINTED_POOLED[1][i, j]:.2f}, "
                                                   f"true {true_pooled[i, j]:.2f})" for i, j in diff))
claim({tuple(int(v) for v in ij) for ij in diff} == {(0, 1), (1, 1)},
      "so demo 2's error at [1,2] (printed +0.33, truly -1/9) travels on: two pooled cells read 0.33 "
      "where the true value is 0")


# %% [markdown]
# ## 5. The output-size formula, with the lab's numbers

# %%
section("5. The output-size formula, with the lab's numbers")
print("conv:  W_out = (W - F + 2P) / S + 1         pool:  W_out = (W - F) / S + 1")
print(f"demo:  (7 - 3 + 0)/1 + 1 = {output_size(7, 3, 1, 0)},  (5 - 3 + 0)/1 + 1 = {output_size(5, 3, 1, 0)};"
      f"  pool (5 - 2)/1 + 1 = {output_size(5, 2, 1, 0)}, (3 - 2)/1 + 1 = {output_size(3, 2, 1, 0)}")
lab = nn.Sequential(
    nn.Conv2d(1, 16, 5, padding=2), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2, 2),
    nn.Conv2d(16, 32, 5, padding=2), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2, 2),
    nn.Flatten(), nn.Linear(7 * 7 * 32, 10))
h = Tensor(lesson.rng.standard_normal((2, 1, 28, 28)).astype(np.float32))
sizes = [h.shape[-1]]
for module in lab:
    h = module(h)
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d)):
        sizes.append(h.shape[-1])
        print(f"  {type(module).__name__:9s} -> {h.shape[1]:2d} x {h.shape[2]} x {h.shape[3]}")
print(f"  Flatten + Linear(7*7*32 = {7 * 7 * 32}, 10) -> {h.shape}")
claim(sizes == [28, 28, 14, 14, 7] == [28, output_size(28, 5, 1, 2), output_size(28, 2, 2, 0),
                                        output_size(14, 5, 1, 2), output_size(14, 2, 2, 0)],
      "the lab's CNN: 28 -(conv 5x5, P=2)-> 28 -(pool 2, S=2)-> 14 -(conv)-> 14 -(pool)-> 7, "
      "measured on real layers and by the formula")
claim(h.shape == (2, 10), "and the FC layer maps the 7x7x32 = 1568 numbers to the 10 classes")


# %% [markdown]
# ## 6. A convolution is one (big, sparse, shared) matrix

# %%
section("6. A convolution is one (big, sparse, shared) matrix")
# conv2d is linear in the image, so it IS a matrix: column p of that matrix is the output for an
# image that is 1 at pixel p and 0 elsewhere. Push all 35 such images through conv2d at once.
basis = np.eye(35).reshape(35, 1, 7, 5)
T = F.conv2d(Tensor(basis), weight).numpy().reshape(35, 15).T      # (15 outputs, 35 pixels)
claim(np.allclose(T @ DEMO_INPUTS[0].ravel(), by_loop[0][0].ravel(), atol=1e-12),
      "a 15x35 matrix times the flattened 7x5 image gives the feature map (one matrix product)")
claim(all(np.count_nonzero(row) == 9 for row in T),
      "each output looks at only 9 of the 35 pixels (sparse interaction)")
claim(all(np.allclose(np.sort(row[row != 0]), np.sort(LOOPY_FILTER.ravel())) for row in T),
      f"and every row holds the same 9 weights: {T.size} matrix entries, 9 parameters (parameter sharing)")
shifted = np.vstack([-np.ones((1, 5)), DEMO_INPUTS[0]])            # the image moved down one row
claim(np.allclose(conv_loop(shifted, LOOPY_FILTER)[1:], by_loop[0][0], atol=1e-12),
      "moving the image down one row moves the feature map down one row (equivariance)")


# %% [markdown]
# ## Figures

# %%
section("Figures")
fig, axes = plt.subplots(2, 5, figsize=(14, 6.5))
for d in range(2):
    fmap, relu, pooled_d = by_loop[d]
    panels = [(DEMO_INPUTS[d], "input 7x5"), (LOOPY_FILTER, "loopy filter"), (fmap, "feature map 5x3"),
              (relu, "ReLU"), (pooled_d, "max-pool 2x2, stride 1")]
    for ax, (a, title) in zip(axes[d], panels):
        ax.imshow(a, cmap="coolwarm", vmin=-1, vmax=1)
        for (i, j), v in np.ndenumerate(a):
            label = f"{int(v):+d}" if a is DEMO_INPUTS[d] else f"{as_printed(v):.2f}".rstrip("0").rstrip(".")
            ax.text(j, i, label, ha="center", va="center", fontsize=8, color="w" if abs(v) > 0.6 else "k")
        ax.set(title=f"demo {d + 1}: {title}", xticks=[], yticks=[])
    for i, j in mismatches[d]:
        axes[d, 2].add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="k", lw=2.5))
        axes[d, 2].text(j, i + 0.35, f"slide {PRINTED_FEATURE_MAPS[d][i, j]:.2f}", ha="center",
                        fontsize=6, color="k")
fig.suptitle("the lecture's demo recomputed; boxed cells are printed differently on the slides")
lesson.save(fig, "loopy_pattern_demo.png")

fig, axes = plt.subplots(1, 3, figsize=(14, 4.8), gridspec_kw={"width_ratios": [1, 1.6, 3.2]})
axes[0].imshow(LOOPY_FILTER.reshape(9, 1), cmap="coolwarm", vmin=-0.2, vmax=0.2)
axes[0].set(title="filter as a 9x1 column\n(used as a 1x9 row)", xticks=[], yticks=range(9))
axes[1].imshow(cols[:, :15], cmap="coolwarm", vmin=-1, vmax=1)
axes[1].set(title="im2col of demo 1: 9 x 15\n(column p = the window at output p)",
            xlabel="output position p = 3 i + j", ylabel="pixel of the window", yticks=range(9))
axes[2].imshow(T, cmap="coolwarm", vmin=-0.15, vmax=0.15)
axes[2].set(title="the convolution as one 15 x 35 matrix: 9 shared weights per row",
            xlabel="input pixel (7x5 image flattened)", ylabel="output position")
lesson.save(fig, "im2col_and_conv_matrix.png")
lesson.done()
