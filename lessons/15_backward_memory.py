# %% [markdown]
# # Lesson 15. What the backward pass keeps: the memory ledger of the lab CNN and ResNet-20, trained in full and with frozen stages.
#
# To compute dL/dW, the backward pass needs numbers from the forward pass: a ReLU needs to know
# where its input was positive, batch norm needs its normalised activations x-hat, a matrix
# product needs the other operand. So every op of the graph keeps those arrays (on its
# `Function`, the op's record in the graph) until backward has used them. That memory grows with
# the batch, and it, not the weights, is what limits the batch size a machine can train with.
#
# `minidl.memory.ledger(loss)` lists, for every op of the graph behind `loss`, the arrays it keeps
# and their bytes, each buffer counted once; their total; and the peak during backward, when the
# gradients in flight come on top while the ops' caches are freed one by one.
#
# Freezing layers (the lectures on deep architectures and on fine-tuning: copy the pretrained
# layers and keep them fixed) saves more than the optimizer's work: an op none of whose inputs
# needs a gradient is not recorded at all, so the frozen part keeps nothing for backward.
#
# Run:  python lessons/15_backward_memory.py [--quick] [--out DIR]

# %%
"""What the backward pass keeps: the memory ledger of the lab CNN and ResNet-20, trained in full and with frozen stages."""
import matplotlib.pyplot as plt
import numpy as np
from _common import claim, section, start

import minidl
import minidl.functional as F
from minidl import Tensor
from minidl.graph import grad_fn
from minidl.memory import by_stage, ledger, stage_outputs
from minidl.models.lab6 import lab6_cnn
from minidl.models.resnet_cifar import resnet_cifar
from minidl.transfer import freeze

lesson = start("15_backward_memory", __doc__)
rng = lesson.rng
MB = 2 ** 20


def images(batch, shape):
    """A batch of random images and labels: what is kept depends on shapes, not on values."""
    return (Tensor(rng.standard_normal((batch, *shape)).astype(np.float32)),
            rng.integers(0, 10, batch))


# %% [markdown]
# ## The lab CNN's ledger
#
# conv 16 5x5 -> batch norm -> ReLU -> max-pool -> conv 32 5x5 -> batch norm -> ReLU -> max-pool
# -> linear 1568 -> 10, one training-mode forward pass with the loss. Each row is one op (in
# forward order) with the arrays it keeps; `inputs` are activations an op takes as input that the
# caller still holds (the graph itself keeps only what the ops save).

# %%
section("The lab CNN's ledger")
batch = lesson.pick(64, 16)
minidl.manual_seed(0)
lab = lab6_cnn()
x, y = images(batch, (1, 28, 28))
lab_book = ledger(F.cross_entropy(lab(x), y))
print(lab_book.table())
first_bn = next(r for r in lab_book.ops if r.op == "BatchNorm")
xhat = next(s for s in first_bn.saved if s.shape == (batch, 16, 28, 28))
claim(xhat.nbytes == batch * 16 * 28 * 28 * 4,
      f"the first batch norm keeps x-hat, one float32 per activation: {batch} x 16 x 28 x 28 x 4 B "
      f"= {xhat.nbytes / MB:.2f} MB")
x2, y2 = images(2 * batch, (1, 28, 28))
doubled = ledger(F.cross_entropy(lab(x2), y2))
ratio = doubled.total_bytes / lab_book.total_bytes
print(f"batch {batch}: {lab_book.total_bytes / MB:.2f} MB kept; batch {2 * batch}: "
      f"{doubled.total_bytes / MB:.2f} MB ({ratio:.3f}x)")
claim(abs(ratio - 2) < 0.01, "twice the batch keeps twice the memory: it is all activations, "
      f"{lab_book.total_bytes / batch / 2**10:.0f} KB per image")
claim(lab_book.peak_backward_bytes >= lab_book.total_bytes,
      f"the backward pass peaks at {lab_book.peak_backward_bytes / MB:.2f} MB: what is kept plus the gradients in flight")


# %% [markdown]
# ## The lab CNN with its first block frozen
#
# Freeze the first conv block (conv, batch norm): its ops get no input that needs a gradient, so
# they are not recorded, and neither is the ReLU and pooling after them. The graph starts at the
# second convolution, whose input is now a plain array.

# %%
section("The lab CNN with its first block frozen")
blocks = ["features.3", "features.7", "classifier"]      # where block 1, block 2, the head end
with stage_outputs(lab, blocks) as outputs:
    lab_full_stages = by_stage(F.cross_entropy(lab(x), y), outputs)
freeze(lab, names=["features.0", "features.1"])
with stage_outputs(lab, blocks) as outputs:
    frozen_loss = F.cross_entropy(lab(x), y)
lab_frozen_stages = by_stage(frozen_loss, outputs)
lab_frozen = ledger(frozen_loss)
for name in lab_full_stages:
    print(f"  {name:11s} full {lab_full_stages[name] / MB:6.2f} MB   block 1 frozen "
          f"{lab_frozen_stages[name] / MB:6.2f} MB")
claim(lab_frozen_stages["features.3"] == 0 and grad_fn(outputs["features.3"]) is None,
      "the frozen block keeps nothing for backward: its output was made by no recorded op")
claim(lab_frozen.total_bytes < 0.5 * lab_book.total_bytes,
      f"freezing the first block cuts what is kept from {lab_book.total_bytes / MB:.2f} MB to "
      f"{lab_frozen.total_bytes / MB:.2f} MB: the 28x28 block held most of it")


# %% [markdown]
# ## ResNet-20, from nothing frozen to only the head training
#
# The CIFAR-10 ResNet-20: a stem (conv + batch norm), three stages of three residual blocks each
# (16, 32, 64 channels at 32x32, 16x16, 8x8), and the linear head. `freeze(model, upto=stage)`
# fixes every stage from the input up to that one. (A convolution shows little of its own in the
# ledger: what it keeps, its input, is the ReLU's output that the ReLU already keeps, and each
# buffer is counted once, at the first op that keeps it.)

# %%
section("ResNet-20, from nothing frozen to only the head training")
batch = lesson.pick(32, 8)
x, y = images(batch, (3, 32, 32))
stages = ["bn1", "layer1", "layer2", "layer3", "linear"]     # the last module of each stage
names = {"bn1": "stem", "layer1": "layer1", "layer2": "layer2", "layer3": "layer3", "linear": "linear"}
settings = [None, "stem", "layer1", "layer2", "layer3"]
rows = {}
for upto in settings:
    minidl.manual_seed(0)
    model = resnet_cifar(20)
    model.train()
    if upto is not None:
        freeze(model, upto=upto)
    with stage_outputs(model, stages) as outputs:
        loss = F.cross_entropy(model(x), y)
    rows[upto] = (by_stage(loss, outputs), ledger(loss))
    kept, book = rows[upto]
    label = "nothing frozen" if upto is None else f"frozen up to {upto}"
    print(f"{label:22s} kept {book.total_bytes / MB:6.2f} MB, peak in backward "
          f"{book.peak_backward_bytes / MB:6.2f} MB;  by stage: "
          + ", ".join(f"{names[s]} {kept[s] / MB:.2f}" for s in stages))
full_kept, full_book = rows[None]
print(f"\nThe ten largest ops of the full model (batch {batch}):")
print(full_book.table(top=10))
order = [names[s] for s in stages]
for upto in settings[1:]:
    kept = rows[upto][0]
    frozen = stages[:order.index(upto) + 1]
    claim(all(kept[s] == 0 for s in frozen),
          f"frozen up to {upto}: the frozen stages ({', '.join(names[s] for s in frozen)}) keep 0 bytes")
totals = [rows[u][1].total_bytes for u in settings]
claim(all(a > b for a, b in zip(totals, totals[1:])),
      "each further frozen stage lowers what is kept: " + " > ".join(f"{t / MB:.2f}" for t in totals) + " MB")
claim(rows["layer3"][1].total_bytes < 0.01 * full_book.total_bytes,
      f"training only the head keeps {rows['layer3'][1].total_bytes / 2**10:.1f} KB, under 1% of the "
      f"full model's {full_book.total_bytes / MB:.1f} MB")
# layer3's first block adds a shortcut: its input subsampled and zero-padded to 64 channels. In the
# full model recorded ops make that padded copy, but the addition saves nothing (its gradient
# passes through unchanged), and the graph keeps an op's output only while someone holds it: as
# in PyTorch, the graph links ops, not tensors. So the copy is freed at once, in both cases.
claim(full_kept["layer3"] == rows["layer2"][0]["layer3"],
      f"layer3, still training, keeps exactly what it kept in the full model "
      f"({full_kept['layer3'] / MB:.2f} MB): its shortcut's padded copy, which no op saves, "
      f"is kept by neither")


# %% [markdown]
# ## Figure

# %%
section("Figure")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
by_type = sorted(full_book.by_op().items(), key=lambda kv: -(kv[1]["saved_bytes"] + kv[1]["input_bytes"]))[:6]
ax1.barh([k for k, _ in by_type][::-1], [(r["saved_bytes"] + r["input_bytes"]) / MB for _, r in by_type][::-1],
         color="C0")
ax1.set(xlabel="MB kept for backward", title=f"ResNet-20, batch {batch}: kept by op type")
bottom = np.zeros(len(settings))
for s in stages:
    values = np.array([rows[u][0][s] / MB for u in settings])
    ax2.bar(range(len(settings)), values, bottom=bottom, label=names[s])
    bottom += values
ax2.plot(range(len(settings)), [rows[u][1].peak_backward_bytes / MB for u in settings], "k.--",
         label="peak in backward")
ax2.set_xticks(range(len(settings)), ["none"] + [f"up to\n{u}" for u in settings[1:]])
ax2.set(xlabel="frozen", ylabel="MB kept for backward", title="ResNet-20: what each stage keeps")
ax2.legend(fontsize=8)
lesson.save(fig, "backward_memory.png")
lesson.done()
