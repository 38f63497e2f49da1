# %% [markdown]
# # Lesson 8. Deeper nets: plain stacks stop training as they grow, residual (skip) connections fix it.
#
# The lecture on deep architectures ("deeper vs shallower nets"): a deeper net can represent any mapping a shallower one
# can - the extra layers only have to learn the identity - so it should never do worse on the
# TRAINING set. In practice plain deep nets do: they underfit, because credit assignment through
# many layers is hard and gradients vanish on the way down. He et al. (2015) measured it on
# ImageNet (top-1 error, %):
#
#                  plain    ResNet
#     18 layers    27.94    27.88
#     34 layers    28.54    25.03
#
# A residual block adds a shortcut around its layers,  F(x) = W2 sigma(W1 x),  y = sigma(F(x) + x),
# so a block that learns F = 0 passes its input through unchanged, and the gradient has a direct
# path back through every "+ x".
#
# This lesson builds the same networks with and without the shortcut - a stem layer, n blocks of
# two Linear layers, a head: 2n + 2 layers, so n = 8 and n = 16 give the lecture's 18 and 34 - and
# trains each on the 8x8 digits for the same budget.
#
# Run:  python lessons/08_deeper_nets.py [--quick] [--out DIR]

# %%
"""Deeper nets: plain stacks stop training as they grow, residual (skip) connections fix it."""
import matplotlib.pyplot as plt
import numpy as np
from _common import claim, section, start

import minidl
import minidl.functional as F
from minidl import Tensor, nn, optim
from minidl.data import DataLoader, digits, to_float
from minidl.train import evaluate, fit

lesson = start("08_deeper_nets", __doc__)


class Block(nn.Module):
    """Two Linear layers, (N, width) -> (N, width): y = relu(W2 relu(W1 x) [+ x])."""

    def __init__(self, width: int, residual: bool):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)
        self.residual = residual

    def forward(self, x):
        out = self.fc2(F.relu(self.fc1(x)))          # F(x) = W2 sigma(W1 x)
        if self.residual:
            out = out + x                            # the shortcut: F(x) + x
        return F.relu(out)                           # y = sigma(F(x) + x)


def network(blocks: int, residual: bool, he_init: bool, width: int = 64) -> nn.Sequential:
    """64 pixels -> stem Linear -> `blocks` Blocks -> head Linear -> 10 scores: 2*blocks + 2 layers.

    he_init: re-draw every weight with He's N(0, 2/fan_in) (lesson 4) and zero the biases;
    otherwise keep Linear's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (variance 1/(3 fan_in)).
    """
    model = nn.Sequential(nn.Linear(64, width), nn.ReLU(),
                          *[Block(width, residual) for _ in range(blocks)],
                          nn.Linear(width, 10))
    if he_init:
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)
    return model


def standardise(images):
    x = to_float(images).reshape(len(images), -1)
    return (x - 0.3) / 0.37     # roughly zero mean, unit variance for the digits' pixels


train, test = digits("train"), digits("test")
train = train.take(slice(0, lesson.pick(len(train), 640)))    # --quick: fewer images per epoch
x_train, x_test = standardise(train.images), standardise(test.images)
epochs = lesson.pick(12, 4)
block_counts = lesson.pick([1, 4, 8, 16], [1, 16])
variants = {  # name -> (residual?, He init?)
    "plain, default init": (False, False),
    "plain, He init": (False, True),
    "residual, default init": (True, False),
}
lr = 0.02
print("The deep-architectures lecture's ImageNet numbers (top-1 error %): plain 18 layers 27.94, 34 layers 28.54;")
print("ResNet 18 layers 27.88, 34 layers 25.03. Deeper helped only WITH shortcuts. Now on digits:")
print(f"digits: {len(train)} training and {len(test)} test images of 8x8 = 64 pixels, 10 classes")
print(f"every network: width 64, SGD lr {lr} momentum 0.9, batch 64, {epochs} epochs; depths "
      f"{[2 * n + 2 for n in block_counts]} layers")


# %% [markdown]
# ## First-layer gradient at initialisation

# %%
section("First-layer gradient at initialisation")
print("One forward/backward pass on 256 training images, before any training.")
probe_x, probe_y = Tensor(x_train[:256]), train.labels[:256]
grad_first = {}
for name, (residual, he) in variants.items():
    for n in block_counts:
        minidl.manual_seed(0)
        model = network(n, residual, he)
        F.cross_entropy(model(probe_x), probe_y).backward()
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        grad_first[name, n] = float(np.linalg.norm(linears[0].weight.grad))
        print(f"  {name:24s} {2 * n + 2:2d} layers: |dL/dW| first layer {grad_first[name, n]:.2e}, "
              f"last layer {np.linalg.norm(linears[-1].weight.grad):.2e}")
deepest, shallow = block_counts[-1], block_counts[0]
claim(grad_first["plain, default init", deepest] < 1e-6 * grad_first["residual, default init", deepest],
      f"with the same default init, the {2 * deepest + 2}-layer plain net's first layer gets a gradient "
      f"{grad_first['residual, default init', deepest] / grad_first['plain, default init', deepest]:.0e}"
      " times smaller than the residual net's: every '+ x' is a direct path back")
claim(grad_first["residual, default init", deepest] > 0.1 * grad_first["residual, default init", shallow],
      "with shortcuts the first layer's gradient barely depends on depth (within 10x of the shallowest)")
minidl.manual_seed(0)
with minidl.no_grad():
    blown = network(deepest, True, True)(probe_x).numpy().std()
print("Why not He init for the residual nets too? Without BatchNorm, y = relu(F(x) + x) adds a")
print("He-sized F(x) to x in every block, roughly doubling the variance each time:")
claim(blown > 100 * np.abs(probe_x.numpy()).std(),
      f"a {2 * deepest + 2}-layer residual net with He init has outputs of std {blown:.1e}; training "
      "it overflows. Real ResNets put BatchNorm in each block; here the smaller default init does")


# %%
section(f"Training every depth for {epochs} epochs")
final, curves = {}, {}
for name, (residual, he) in variants.items():
    for n in block_counts:
        minidl.manual_seed(0)
        model = network(n, residual, he)
        opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        loader = DataLoader(x_train, train.labels, batch_size=64, shuffle=True, seed=0)
        history = fit(model, opt, loader, epochs=epochs, progress=False)
        score = evaluate(model, DataLoader(x_train, train.labels, batch_size=512))
        held_out = evaluate(model, DataLoader(x_test, test.labels, batch_size=512))
        final[name, n] = (score["loss"], score["accuracy"], held_out["accuracy"])
        curves[name, n] = history.train_loss
        print(f"  {name:24s} {2 * n + 2:2d} layers: training loss {score['loss']:.4f}, "
              f"training accuracy {score['accuracy']:.3f}, test accuracy {held_out['accuracy']:.3f}")


# %% [markdown]
# ## What the numbers say

# %%
section("What the numbers say")
top = 2 * deepest + 2


def loss_of(name, n):
    return final[name, n][0]


claim(abs(loss_of("plain, default init", deepest) - np.log(10)) < 0.05,
      f"the {top}-layer plain net with default init learns nothing: its loss stays at "
      f"ln 10 = {np.log(10):.3f}, guessing among 10 classes (the gradient never reaches its lower layers)")
claim(loss_of("plain, He init", deepest) > 3 * loss_of("plain, He init", shallow),
      f"He init lets the plain {top}-layer net learn, yet it is still far WORSE on its own training set "
      f"than the {2 * shallow + 2}-layer one ({loss_of('plain, He init', deepest):.3f} vs "
      f"{loss_of('plain, He init', shallow):.3f}): the degradation the deep-architectures lecture describes - underfitting, "
      "not overfitting")
plain_he = [loss_of("plain, He init", n) for n in block_counts]
claim(np.all(np.diff(plain_he) > 0),
      "for the He-init plain nets, every step deeper made the training loss worse: "
      + " -> ".join(f"{v:.3f}" for v in plain_he))
claim(loss_of("residual, default init", deepest) < 0.5 * loss_of("plain, He init", deepest),
      f"with shortcuts the {top}-layer net trains: loss {loss_of('residual, default init', deepest):.3f}, "
      "less than half of the He-init plain net's")
claim(loss_of("residual, default init", deepest) < 1.5 * loss_of("residual, default init", shallow),
      f"and no degradation: its training loss is within 1.5x of the {2 * shallow + 2}-layer residual net's "
      f"({loss_of('residual, default init', deepest):.3f} vs {loss_of('residual, default init', shallow):.3f})")


# %% [markdown]
# ## Figure

# %%
section("Figure")
fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.5))
styles = {"plain, default init": ":", "plain, He init": "--", "residual, default init": "-"}
for i, n in enumerate(block_counts):
    for name, style in styles.items():
        ax1.plot(range(1, epochs + 1), curves[name, n], style, color=f"C{i}",
                 label=f"{2 * n + 2} layers" if style == "-" else None)
ax1.set(xlabel="epoch", ylabel="training loss (mean over the epoch)", yscale="log",
        title="dotted: plain default, dashed: plain He,\nsolid: residual")
ax1.legend(fontsize=8)
layers = [2 * n + 2 for n in block_counts]
for name, style in styles.items():
    ax2.plot(layers, [loss_of(name, n) for n in block_counts], "o" + style, label=name)
    ax3.semilogy(layers, [grad_first[name, n] for n in block_counts], "o" + style, label=name)
ax2.set(xlabel="layers", ylabel=f"training loss after {epochs} epochs", yscale="log",
        title="deeper plain nets underfit")
ax3.set(xlabel="layers", ylabel="|dL/dW| of the first layer at init",
        title="the gradient that reaches layer 1")
for ax in (ax2, ax3):
    ax.set_xticks(layers)
    ax.legend(fontsize=8)
lesson.save(fig, "plain_vs_residual.png")
lesson.done()
