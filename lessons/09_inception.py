# %% [markdown]
# # Lesson 9. Inception modules: what the 1x1 "reduction" convolutions buy, counted and timed.
#
# The lecture on deep architectures: an Inception block runs 1x1, 3x3 and 5x5 convolutions and a max-pool side by side
# on the same input and concatenates their outputs along the channels, so the next layer can use
# whichever scale fits the information in the image. Run naively, that is expensive, so GoogLeNet
# puts a cheap 1x1 convolution in front of the 3x3 and 5x5 ones (and after the pool) to cut the
# number of channels they read.
#
# The cost of one convolution, for an H x W output with C_in input and C_out output channels and a
# k x k kernel (stride 1, 'same' padding) is
#
#     parameters     (k * k * C_in + 1) * C_out                (weights + one bias per filter)
#     multiply-adds  H * W * C_out * k * k * C_in              (one dot product per output value)
#
# This lesson builds GoogLeNet's first Inception module, inception(3a), which reads a 28x28 map
# with 192 channels (filters: 64 1x1; 96 -> 128 3x3; 16 -> 32 5x5; pool -> 32), with and without
# the reductions (minidl.models.inception.InceptionModule), counts its parameters and multiply-adds
# with minidl, checks both against the formulas above, and times a forward pass of each.
#
# Run:  python lessons/09_inception.py [--quick] [--out DIR]

# %%
"""Inception modules: what the 1x1 "reduction" convolutions buy, counted and timed."""
import time

import matplotlib.pyplot as plt
import numpy as np
from _common import claim, section, start

import minidl.functional as F
from minidl import Tensor, nn, no_grad
from minidl.models.inception import InceptionModule

lesson = start("09_inception", __doc__)
rng = lesson.rng

H = W = 28
C_IN = 192
# inception(3a) of GoogLeNet (Szegedy et al. 2015, table 1)
CFG = dict(ch1x1=64, ch3x3red=96, ch3x3=128, ch5x5red=16, ch5x5=32, pool_proj=32)


# %% [markdown]
# ## The two modules

# %%
section("The two modules")
reduced = InceptionModule(C_IN, **CFG, reductions=True)
naive = InceptionModule(C_IN, **CFG, reductions=False)
print(f"input: one {C_IN} x {H} x {W} map, as inception(3a) receives it\n")
print("with 1x1 reductions:")
print(reduced)
print("\nnaive (no reductions; the pool branch passes its 192 channels straight through):")
print(naive)


# %% [markdown]
# ## Closed-form counts, written out branch by branch

# %%
section("Closed-form counts, written out branch by branch")
# (branch, kernel k, C_in, C_out) for every convolution of each version
convs = {
    "reduced": [("1x1", 1, C_IN, 64),
                ("3x3", 1, C_IN, 96), ("3x3", 3, 96, 128),
                ("5x5", 1, C_IN, 16), ("5x5", 5, 16, 32),
                ("pool", 1, C_IN, 32)],
    "naive": [("1x1", 1, C_IN, 64),
              ("3x3", 3, C_IN, 128),
              ("5x5", 5, C_IN, 32)],
}
formula = {}
for version, layers in convs.items():
    per_branch = {b: 0 for b in ("1x1", "3x3", "5x5", "pool")}
    params = 0
    for branch, k, cin, cout in layers:
        macs = H * W * cout * k * k * cin
        per_branch[branch] += macs
        params += (k * k * cin + 1) * cout
        print(f"  {version:7s} {branch:4s} branch: {k}x{k} conv {cin:3d} -> {cout:3d}: "
              f"{H}*{W}*{cout}*{k}*{k}*{cin} = {macs / 1e6:7.2f} M multiply-adds, "
              f"{(k * k * cin + 1) * cout:7,d} parameters")
    formula[version] = dict(params=params, macs=sum(per_branch.values()), per_branch=per_branch)
    print(f"  {version:7s} total: {formula[version]['macs'] / 1e6:.1f} M multiply-adds, "
          f"{params:,d} parameters\n")


# %% [markdown]
# ## The same numbers from minidl

# %%
section("The same numbers from minidl")
measured = {}
for version, module in (("reduced", reduced), ("naive", naive)):
    x = Tensor(rng.standard_normal((1, C_IN, H, W)).astype(np.float32))
    # Run the module by hand, branch by branch and layer by layer, to see every convolution's
    # real output shape; the count below is each conv's GEMM, (F, C*k*k) @ (C*k*k, OH*OW).
    by_shapes, outputs = 0, []
    with no_grad():
        for branch in (module.branch1, module.branch2, module.branch3, module.branch4):
            h = x
            for layer in branch:
                h = layer(h)
                if isinstance(layer, nn.Conv2d):
                    _, c_out, oh, ow = h.shape
                    by_shapes += oh * ow * c_out * int(np.prod(layer.weight.shape[1:]))
            outputs.append(h)
        y = F.cat(outputs, axis=1)
        claim(np.array_equal(y.numpy(), module(x).numpy()),
              f"{version}: concatenating the four branches by hand is exactly the module's output")
    measured[version] = dict(params=module.num_parameters(), macs=module.multiply_adds(H, W),
                             by_shapes=by_shapes, out_shape=tuple(y.shape),
                             out_channels=module.out_channels)
    print(f"  {version:7s} num_parameters() = {measured[version]['params']:,d}; "
          f"multiply_adds(28, 28) = {measured[version]['macs']:,d}; "
          f"output {measured[version]['out_shape']}")

for version in ("reduced", "naive"):
    claim(measured[version]["params"] == formula[version]["params"],
          f"{version}: minidl's parameter count equals the formula ({formula[version]['params']:,d})")
    claim(measured[version]["macs"] == formula[version]["macs"] == measured[version]["by_shapes"],
          f"{version}: multiply-adds from minidl, from the formula and from the real GEMM shapes "
          f"agree ({formula[version]['macs']:,d})")
claim(measured["reduced"]["out_shape"] == (1, 64 + 128 + 32 + 32, H, W),
      "with reductions the output is 64 + 128 + 32 + 32 = 256 channels, still 28 x 28")
claim(measured["naive"]["out_shape"] == (1, 64 + 128 + 32 + C_IN, H, W),
      "without them it is 64 + 128 + 32 + 192 = 416 channels: the pool branch keeps all 192")


# %% [markdown]
# ## What the 1x1 reductions save

# %%
section("What the 1x1 reductions save")
b5_naive, b5_red = formula["naive"]["per_branch"]["5x5"], formula["reduced"]["per_branch"]["5x5"]
b5_ratio = b5_naive / b5_red
print(f"The 5x5 branch alone: reading all 192 channels costs {b5_naive / 1e6:.1f} M multiply-adds;")
print(f"squeezing them to 16 with a 1x1 conv first costs {b5_red / 1e6:.1f} M "
      f"(1x1: {H * W * 16 * C_IN / 1e6:.1f} M + 5x5: {H * W * 32 * 25 * 16 / 1e6:.1f} M), "
      f"{b5_ratio:.1f}x less.")
module_ratio = formula["naive"]["macs"] / formula["reduced"]["macs"]
param_ratio = formula["naive"]["params"] / formula["reduced"]["params"]
print(f"The whole module: {formula['naive']['macs'] / 1e6:.0f} M -> "
      f"{formula['reduced']['macs'] / 1e6:.0f} M multiply-adds ({module_ratio:.2f}x less), "
      f"{formula['naive']['params']:,d} -> {formula['reduced']['params']:,d} parameters "
      f"({param_ratio:.2f}x fewer),")
print("while the output holds 256 channels instead of 416, so the NEXT layer is cheaper too.")
print("(The lecture gives no number for the saving; these are inception(3a)'s own.)")
claim(9.5 < b5_ratio < 10.0,
      f"the 1x1 reduction makes the 5x5 branch about 10x cheaper ({b5_ratio:.2f}x = "
      f"(192*25*32) / (192*16 + 16*25*32))")
claim(2.3 < module_ratio < 2.4,
      f"over the whole module the reductions cut multiply-adds {module_ratio:.2f}x "
      "(303.5 M -> 128.0 M), even though they ADD three convolutions")


# %% [markdown]
# ## Stacking naive modules makes the channels grow

# %%
section("Stacking naive modules makes the channels grow")
depth = C_IN
naive_depths = [depth]
for _ in range(3):
    depth = 64 + 128 + 32 + depth          # the pool branch passes every input channel through
    naive_depths.append(depth)
print("channels after 0, 1, 2, 3 naive modules with the same filters: "
      + " -> ".join(str(d) for d in naive_depths))
print("With reductions, the pool branch's 1x1 projection fixes the output at 256 each time.")
claim(all(b > a for a, b in zip(naive_depths, naive_depths[1:])),
      "without the pool projection every naive module is deeper than its input")


# %% [markdown]
# ## Timing one forward pass of each

# %%
section("Timing one forward pass of each")
batch = lesson.pick(8, 1)
repeats = lesson.pick(3, 1)
x = Tensor(rng.standard_normal((batch, C_IN, H, W)).astype(np.float32))
seconds = {}
for version, module in (("reduced", reduced), ("naive", naive)):
    with no_grad():
        module(x)                                   # warm-up (compiles the Numba kernels once)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            module(x)
            times.append(time.perf_counter() - t0)
    seconds[version] = min(times)
    rate = batch * formula[version]["macs"] / seconds[version] / 1e9
    print(f"  {version:7s} batch of {batch}: {seconds[version] * 1e3:7.1f} ms "
          f"(best of {repeats}; {rate:.1f} G multiply-adds per second)")
print(f"measured speed-up of the reductions: {seconds['naive'] / seconds['reduced']:.2f}x; the count "
      f"predicts {module_ratio:.2f}x. Time need not follow the count exactly: the 1x1 layers do few "
      "multiply-adds per number they read, the pooling and copies cost time the count leaves out, "
      "and other programs on the same cores disturb any single measurement.")


# %% [markdown]
# ## Figure

# %%
section("Figure")
fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 4.2))
branches = ["1x1", "3x3", "5x5", "pool"]
xs = np.arange(len(branches))
for i, version in enumerate(("naive", "reduced")):
    vals = [formula[version]["per_branch"][b] / 1e6 for b in branches]
    ax1.bar(xs + (i - 0.5) * 0.38, vals, 0.38, label=version, color=f"C{i}")
ax1.set_xticks(xs, [f"{b} branch" for b in branches])
ax1.set(ylabel="multiply-adds per image (millions)",
        title="inception(3a) on 28x28x192: cost per branch")
ax1.legend()
names = ["naive", "reduced"]
ax2.bar(names, [formula[v]["params"] / 1e3 for v in names], color=["C0", "C1"])
ax2.set(ylabel="parameters (thousands)", title=f"parameters ({param_ratio:.2f}x fewer)")
ax3.bar(names, [seconds[v] * 1e3 for v in names], color=["C0", "C1"])
ax3.set(ylabel=f"forward time for {batch} images (ms)",
        title=f"measured time ({seconds['naive'] / seconds['reduced']:.2f}x faster)")
lesson.save(fig, "inception_cost.png")
lesson.done()
