# %% [markdown]
# # Lesson 2. Epochs, batches and iterations: full-batch, stochastic and mini-batch gradient descent compared.
#
# The lecture on backpropagation and training, on epochs, batches and iterations:
#   * epoch     - the whole training set has passed forward and backward through the network once;
#   * batch     - the part of the training set used for one weight update; its size is the batch size;
#   * iteration - one batch, one update; iterations per epoch = number of batches.
# With 2000 examples and batches of 500 it takes 4 iterations to finish an epoch. The batch size
# names the algorithm:
#   gradient descent (full batch)    batch size = size of the training set
#   stochastic gradient descent      batch size = 1
#   mini-batch gradient descent      1 < batch size < size of the training set
#
# This lesson trains the same small network (1 -> 16 tanh -> 1) on the same 2000 examples with each
# of these, using minidl.data.DataLoader for the batches, nn for the model and optim.SGD for the
# update W = W - lr dL/dW, and plots the loss against epochs and against iterations.
#
# Run:  python lessons/02_epochs_batches_iterations.py [--quick] [--out DIR]

# %%
"""Epochs, batches and iterations: full-batch, stochastic and mini-batch gradient descent compared."""
import math

import matplotlib.pyplot as plt
import numpy as np
from _common import claim, section, start

import minidl
import minidl.functional as F
from minidl import Tensor, nn, no_grad, optim
from minidl.data import DataLoader

lesson = start("02_epochs_batches_iterations", __doc__)
rng = lesson.rng


# %% [markdown]
# ## The data: 2000 examples, as in the lecture's example

# %%
section("The data: 2000 examples, as in the lecture's example")
N = 2000
x = rng.uniform(-3, 3, (N, 1)).astype(np.float32)
y = (np.sin(x) + 0.1 * rng.standard_normal((N, 1))).astype(np.float32)
print(f"x: {x.shape}, y = sin(x) + noise: {y.shape}. The noise (std 0.1) alone costs MSE 0.01.")
print("DataLoader hands out (inputs, targets) in batches; here the targets are the float y. Each epoch")
print("reshuffles the order.")


# %% [markdown]
# ## Iterations per epoch = number of batches

# %%
section("Iterations per epoch = number of batches")
runs = {  # name -> batch size
    "gradient descent (batch 2000)": N,
    "mini-batch, the lecture's 500": 500,
    "mini-batch 32": 32,
    "stochastic (batch 1)": 1,
}
for name, b in runs.items():
    loader = DataLoader(x, y, batch_size=b)
    print(f"  {name:32s} {N} / {b:4d} -> {len(loader):4d} iterations per epoch")
claim(len(DataLoader(x, y, batch_size=500)) == 4,
      "2000 examples in batches of 500 take 4 iterations per epoch (the lecture's example)")
claim(len(DataLoader(x, y, batch_size=1)) == N,
      "stochastic gradient descent takes N = 2000 iterations per epoch")
claim(len(DataLoader(x, y, batch_size=32)) == math.ceil(N / 32) == 63,
      "2000 / 32 is not whole: 62 full batches and one of 16 make 63 iterations "
      "(drop_last=True would skip the short one)")


# %% [markdown]
# ## Training each one with the same learning rate

# %%
section("Training each one with the same learning rate")
epochs = lesson.pick(15, 3)
lr = 0.1
print(f"{epochs} epochs each, plain SGD with lr = {lr}, loss = mean squared error over the batch.")
print("After every few iterations (each of the first 20) we also measure the loss on ALL 2000")
print("examples, without updating: that is the curve we plot.")


def full_loss(model):
    with no_grad():
        return F.mse_loss(model(Tensor(x)), Tensor(y)).item()


results = {}
for name, batch_size in runs.items():
    minidl.manual_seed(0)                 # the same starting weights for every run
    model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = optim.SGD(model.parameters(), lr=lr)
    loader = DataLoader(x, y, batch_size=batch_size, shuffle=True, seed=0)
    every = max(1, len(loader) // 20)     # about 20 measurements per epoch
    iters, curve, per_epoch, batch_losses, counted = [0], [full_loss(model)], [full_loss(model)], [], []
    iteration = 0
    for epoch in range(epochs):
        in_this_epoch = 0
        for xb, yb in loader:
            loss = F.mse_loss(model(Tensor(xb)), Tensor(yb))
            opt.zero_grad()
            loss.backward()
            opt.step()                    # one iteration = one update
            iteration += 1
            in_this_epoch += 1
            batch_losses.append(loss.item())
            if iteration <= 20 or iteration % every == 0:   # finely at the start, for the log axis
                iters.append(iteration)
                curve.append(full_loss(model))
        counted.append(in_this_epoch)
        per_epoch.append(full_loss(model))
    results[name] = dict(batch=batch_size, iters=np.array(iters), curve=np.array(curve),
                         epoch=np.array(per_epoch), batch_losses=np.array(batch_losses),
                         per_epoch_iterations=counted)
    print(f"  {name:32s} {iteration:6d} iterations; loss after each epoch: "
          f"{' '.join(f'{v:.3f}' for v in per_epoch[1:6])}{' ...' if epochs > 5 else ''} "
          f"final {per_epoch[-1]:.4f}")

full, sgd, mini = (results["gradient descent (batch 2000)"], results["stochastic (batch 1)"],
                   results["mini-batch 32"])
claim(all(c == N for c in sgd["per_epoch_iterations"]),
      "counting the loop: SGD really made 2000 updates in every epoch")
claim(all(c == 1 for c in full["per_epoch_iterations"]),
      "and full-batch gradient descent made exactly one update per epoch")


# %% [markdown]
# ## Who gets there first?

# %%
section("Who gets there first?")
target = 0.05


def first_epoch_below(curve):
    below = np.nonzero(curve <= target)[0]
    return int(below[0]) if len(below) else None


for name, r in results.items():
    e = first_epoch_below(r["epoch"])
    print(f"  {name:32s} reaches MSE {target} after "
          f"{f'{e} epoch(s)' if e is not None else f'more than {epochs} epochs'}")
e_mini, e_full = first_epoch_below(mini["epoch"]), first_epoch_below(full["epoch"])
claim(e_mini is not None and (e_full is None or e_mini < e_full),
      f"per EPOCH, mini-batch (32) reaches MSE {target} sooner than full batch: it makes 63 updates "
      "for every one the full batch makes")
k = len(full["epoch"]) - 1                # full batch's whole run, in iterations
sgd_at_k = sgd["curve"][list(sgd["iters"]).index(k)]
claim(full["epoch"][-1] < sgd_at_k,
      f"per ITERATION, full batch is ahead: after {k} updates it is at {full['epoch'][-1]:.3f}, "
      f"SGD at {sgd_at_k:.3f} (each SGD step sees one example)")
claim(np.all(np.diff(full["epoch"]) < 0),
      "full-batch loss falls at every epoch: it follows the true gradient of the whole training set")
claim(np.any(np.diff(sgd["curve"]) > 0),
      "SGD's whole-data loss goes UP at times: one example's gradient is a noisy estimate of it")


# %% [markdown]
# ## Figure

# %%
section("Figure")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
for i, (name, r) in enumerate(results.items()):
    ax1.plot(np.arange(epochs + 1), r["epoch"], "o-", color=f"C{i}", label=name, ms=3)
    ax2.plot(np.maximum(r["iters"], 0.8), r["curve"], color=f"C{i}", label=name)
for ax in (ax1, ax2):
    ax.set_yscale("log")
    ax.axhline(target, color="0.5", ls="--", lw=1)
    ax.set_ylabel("MSE on all 2000 examples")
ax1.set(xlabel="epoch", title="per epoch, smaller batches learn faster")
ax2.set(xscale="log", xlabel="iteration (weight updates), log scale",
        title="per iteration, bigger batches are steadier and never behind")
ax1.legend()
lesson.save(fig, "loss_vs_epochs_and_iterations.png")
lesson.done()
