# %% [markdown]
# # Lesson 4. Activations and depth: why gradients vanish or explode in deep nets, and what ReLU and He/Glorot init fix.
#
# The lecture on deep architectures ("why deeply layered networks fail"): with logistic or tanh units,
#     sigmoid: y = 1 / (1 + exp(-z)),  dy/dz = y (1 - y)
#     tanh:    y = tanh(z),            dy/dz = (1 + y)(1 - y)
# and error gradients get squashed as they are passed back through a deep network. ReLU,
# y = max(0, z), has slope 0 or 1 and does not squash; but with linear or ReLU units gradients can
# EXPLODE instead, when each layer multiplies them by more than 1. The fine-tuning lecture names the cure used
# in practice: Glorot/He initialisation, which sizes the random weights so that each layer neither
# shrinks nor grows the signal (Glorot: var(w) = 2 / (fan_in + fan_out); He: var(w) = 2 / fan_in
# for ReLU).
#
# Part 1 draws the three activations and their slopes (computed by minidl's autograd, checked
# against the lecture's formulas). Part 2 builds a 20-layer MLP on the 8x8 digits and measures, layer
# by layer, the size of the gradient for four choices of activation and initial weights.
#
# Run:  python lessons/04_activations_and_depth.py [--quick] [--out DIR]

# %%
"""Activations and depth: why gradients vanish or explode in deep nets, and what ReLU and He/Glorot init fix."""
import matplotlib.pyplot as plt
import numpy as np
from _common import claim, section, start

import minidl
import minidl.functional as F
from minidl import Tensor, nn
from minidl.data import digits, to_float

lesson = start("04_activations_and_depth", __doc__)


# %% [markdown]
# ## Part 1: three activations and their derivatives

# %%
section("Part 1: three activations and their derivatives")
z = Tensor(np.linspace(-6, 6, 1201), requires_grad=True)    # a grid that contains z = 0 exactly
slopes, values = {}, {}
for name, act in (("sigmoid", F.sigmoid), ("tanh", F.tanh), ("ReLU", F.relu)):
    z.grad = None
    y = act(z)
    y.sum().backward()          # d(sum_i y_i)/dz_i = dy_i/dz_i: autograd gives every slope at once
    values[name], slopes[name] = y.numpy(), z.grad.copy()
zs = z.numpy()
ys, yt = values["sigmoid"], values["tanh"]
claim(np.allclose(slopes["sigmoid"], ys * (1 - ys), atol=1e-12), "autograd's sigmoid' equals y (1 - y)")
claim(np.allclose(slopes["tanh"], (1 + yt) * (1 - yt), atol=1e-12), "autograd's tanh' equals (1 + y)(1 - y)")
claim(np.array_equal(slopes["ReLU"], (zs > 0).astype(float)), "ReLU' is 0 for z <= 0 and 1 otherwise")
top = slopes["sigmoid"].max()
print(f"largest sigmoid slope {top:.6f} at z = {zs[slopes['sigmoid'].argmax()]:.2f}; "
      f"largest tanh slope {slopes['tanh'].max():.6f}")
claim(abs(top - 0.25) < 1e-12, "the sigmoid's slope is at most 1/4 (at z = 0)")
claim(np.all(slopes["sigmoid"][np.abs(zs) >= 5] < 0.007),
      "and below 0.007 once |z| >= 5: a saturated unit passes almost no gradient back")
print(f"So through 19 sigmoid layers a gradient shrinks by at least 4^19 = {4.0 ** 19:.1e} from the")
print("slopes alone, unless the weights make up for it.")

fig, axes = plt.subplots(1, 3, figsize=(12, 3.5), sharex=True)
for ax, name in zip(axes, values):
    ax.plot(zs, values[name], label=f"{name}(z)")
    ax.plot(zs, slopes[name], "--", label=f"{name}'(z)")
    ax.axhline(0, color="0.8", lw=0.8)
    ax.set(title=name, xlabel="z")
    ax.legend()
axes[0].axhline(0.25, color="C1", ls=":", lw=1)
axes[0].annotate("max 1/4", (0.2, 0.27), color="C1")
lesson.save(fig, "activations.png")


# %% [markdown]
# ## Part 1b: an activation of your own, as a Function
#
# Every op in minidl is a `Function` with two methods side by side: `forward` computes the output
# from plain arrays and keeps on `self` what the backward pass will need; `backward` turns dL/dy
# into dL/dx by the chain rule. Softplus, y = log(1 + e^z), is a smooth ReLU whose slope is the
# sigmoid: dy/dz = e^z / (1 + e^z) = sigmoid(z). Written here, checked by `minidl.gradcheck`
# against central differences in float64.

# %%
section("Part 1b: an activation of your own, as a Function")


class Softplus(minidl.Function):
    """y = log(1 + e^z), elementwise; caches z for backward."""

    def forward(self, z):
        self.z = z
        return np.logaddexp(0.0, z)                 # log(e^0 + e^z) without overflow

    def backward(self, g):
        return (g / (1.0 + np.exp(-self.z)),)       # dL/dz = dL/dy * sigmoid(z)


z_check = Tensor(np.random.default_rng(4).normal(scale=3.0, size=(5, 7)), requires_grad=True)
check = minidl.gradcheck(Softplus.apply, [z_check])
claim(check.max_abs_error < 1e-6, f"Softplus' backward agrees with central differences "
      f"(worst error {check.max_abs_error:.1e} over {z_check.numel()} inputs)")
z.grad = None
soft = Softplus.apply(z)
soft.sum().backward()
claim(np.allclose(z.grad, ys, atol=1e-12), "Softplus' slope computed by its backward is the sigmoid")
gap = soft.numpy() - np.maximum(zs, 0)
claim(np.all(gap > 0) and abs(gap.max() - np.log(2)) < 1e-12,
      "softplus lies above ReLU by at most log 2 (at z = 0): a ReLU with the corner rounded off")


# %% [markdown]
# ## Part 2: gradient size, layer by layer, in a 20-layer MLP

# %%
section("Part 2: gradient size, layer by layer, in a 20-layer MLP")
data = digits("train")
count = lesson.pick(512, 256)
images = to_float(data.images[:count]).reshape(count, -1).astype(np.float64)
x = (images - images.mean()) / images.std()
labels = data.labels[:count]
depth, width = 20, 64
print(f"{count} digits (64 pixels each, standardised) through {depth} Linear layers of width {width},")
print("an activation after each but the last, cross-entropy over the 10 classes, float64.")
print("For each layer we record |dL/dW| (its weight gradient) and |dL/da| (the gradient of the")
print("loss with respect to the layer's output, the 'error' that backprop passes down).")

he_std = np.sqrt(2 / width)
configs = {   # name -> (activation module, how to fill each weight matrix)
    "sigmoid, Glorot init": (nn.Sigmoid, nn.init.xavier_normal_),
    "sigmoid, small init N(0, 0.01^2)": (nn.Sigmoid, lambda w: nn.init.normal_(w, 0.0, 0.01)),
    "ReLU, small init N(0, 0.01^2)": (nn.ReLU, lambda w: nn.init.normal_(w, 0.0, 0.01)),
    "ReLU, He init": (nn.ReLU, nn.init.kaiming_normal_),
    "ReLU, too large (2x He's std)": (nn.ReLU, lambda w: nn.init.normal_(w, 0.0, 2 * he_std)),
}


def layer_gradients(activation, fill):
    """Build the MLP, run one forward and backward pass, return per-layer |dL/dW| and |dL/da|."""
    minidl.manual_seed(0)
    layers = []
    for i in range(depth):
        linear = nn.Linear(width, 10 if i == depth - 1 else width)
        fill(linear.weight)
        nn.init.zeros_(linear.bias)
        layers.append(linear)
    model = nn.Sequential(*[m for lin in layers[:-1] for m in (lin, activation())], layers[-1])
    model.double()
    h, outputs = Tensor(x), []
    for module in model:          # the Sequential's forward, unrolled to keep each layer's output
        h = module(h)
        if isinstance(module, nn.Linear):
            h.retain_grad()
            outputs.append(h)
    F.cross_entropy(h, labels).backward()
    dW = np.array([np.linalg.norm(lin.weight.grad) for lin in layers])
    da = np.array([np.linalg.norm(a.grad) for a in outputs])
    return dW, da


results = {}
for name, (activation, fill) in configs.items():
    dW, da = layer_gradients(activation, fill)
    results[name] = (dW, da)
    print(f"  {name:34s} |dL/dW| layer 1 {dW[0]:.1e}, layer {depth} {dW[-1]:.1e} (ratio {dW[0] / dW[-1]:.1e}); "
          f"|dL/da| layer 1 / layer {depth}: {da[0] / da[-1]:.1e}")


# %% [markdown]
# ## What the numbers say

# %%
section("What the numbers say")
dW, _ = results["sigmoid, Glorot init"]
claim(dW[0] < 1e-3 * dW[-1],
      f"sigmoid, even with Glorot init: the first layer's gradient is {dW[-1] / dW[0]:.0e} times smaller "
      "than the last layer's - it vanishes on the way down, and layer 1 barely learns")
dW, _ = results["sigmoid, small init N(0, 0.01^2)"]
claim(dW[0] < 1e-20 * dW[-1], f"with small weights it is far worse: a factor {dW[-1] / dW[0]:.0e}")
dW, da = results["ReLU, He init"]
claim(dW.max() / dW.min() < 10 and da.max() / da.min() < 10,
      f"ReLU with He init keeps every layer's gradient within a small factor "
      f"(|dL/dW| spread {dW.max() / dW.min():.1f}x, |dL/da| spread {da.max() / da.min():.1f}x)")
_, da_small = results["ReLU, small init N(0, 0.01^2)"]
claim(da_small[0] < 1e-10 * da_small[-1],
      f"ReLU with weights that are too small: the error reaching layer 1 is {da_small[-1] / da_small[0]:.0e} "
      "times smaller than at the top (vanishing)")
_, da_big = results["ReLU, too large (2x He's std)"]
claim(da_big[0] > 1e3 * da_big[-1],
      f"ReLU with weights twice He's size: it is {da_big[0] / da_big[-1]:.0e} times LARGER (exploding; each "
      "layer multiplies it by about 2)")
dW_small, dW_he = results["ReLU, small init N(0, 0.01^2)"][0], results["ReLU, He init"][0]
print("Why does |dL/dW| of a ReLU net not show the slope? dL/dW_l = (error at layer l) x (input of")
print("layer l): one shrinks going down as fast as the other shrinks going up, so with a bad scale")
print("EVERY layer's weight gradient is off by the same huge factor:")
claim(dW_small.max() < 1e-10 * dW_he.min(),
      f"with too-small ReLU weights all {depth} weight gradients are below 1e-10 of He's "
      f"(largest {dW_small.max():.0e} vs {dW_he.min():.0e})")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
layer = np.arange(1, depth + 1)
for i, (name, (dW, da)) in enumerate(results.items()):
    ax1.semilogy(layer, dW, "o-", ms=3, color=f"C{i}", label=name)
    ax2.semilogy(layer, da, "o-", ms=3, color=f"C{i}", label=name)
ax1.set(xlabel="layer (1 = next to the input)", ylabel="|dL/dW| of the layer",
        title="weight gradient per layer")
ax2.set(xlabel="layer (1 = next to the input)", ylabel="|dL/da| at the layer's output",
        title="error passed back, per layer")
ax1.legend(fontsize=8)
lesson.save(fig, "gradient_norms_by_layer.png")
lesson.done()
