# %% [markdown]
# # Lesson 3. Choosing the learning rate: loss against epochs for a rate that is too small, good, too large, diverging.
#
# The lecture on backpropagation and training, on choosing the learning rate: a learning rate that is too small makes training long and can leave it
# stuck; one that is too large learns a sub-optimal set of weights too fast, or makes training
# unstable. On the lecture's chart of loss against epochs, a good rate brings the loss close to
# zero, while a very high rate makes the loss go UP: that rate must be avoided.
#
# This lesson redraws that chart. The same network (1 -> 16 tanh -> 1) learns y = sin(x) + noise from
# the same 2000 examples with mini-batch SGD (batch 32), from the same starting weights, once for
# each of four learning rates; only the rate changes.
#
# Run:  python lessons/03_learning_rate.py [--quick] [--out DIR]

# %%
"""Choosing the learning rate: loss against epochs for a rate that is too small, good, too large, diverging."""
import matplotlib.pyplot as plt
import numpy as np
from _common import claim, section, start

import minidl
import minidl.functional as F
from minidl import Tensor, nn, no_grad, optim
from minidl.data import DataLoader

lesson = start("03_learning_rate", __doc__)
rng = lesson.rng

N = 2000
x = rng.uniform(-3, 3, (N, 1)).astype(np.float32)
y = (np.sin(x) + 0.1 * rng.standard_normal((N, 1))).astype(np.float32)
epochs = lesson.pick(30, 10)
rates = {"too small": 0.003, "good": 0.06, "too large": 0.2, "very high (diverges)": 0.3}
checks_per_epoch = 8
blown_up = 100.0        # stop a run once its loss is this many times the starting loss


# %% [markdown]
# ## Training once per learning rate

# %%
section("Training once per learning rate")
print(f"{N} examples, batch 32 ({-(-N // 32)} iterations per epoch), {epochs} epochs, plain SGD.")
print(f"The loss on all {N} examples is measured {checks_per_epoch} times per epoch.")


def whole_data_mse(model):
    """MSE on every example, computed without building a graph. Returns inf once the weights
    have overflowed (F.mse_loss refuses NaN/inf predictions, rightly, so test for them first)."""
    with no_grad():
        out = model(Tensor(x)).data
    if not np.all(np.isfinite(out)):
        return np.inf
    return F.mse_loss(Tensor(out), Tensor(y)).item()


curves = {}
for name, lr in rates.items():
    minidl.manual_seed(0)                       # identical starting weights for every rate
    model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = optim.SGD(model.parameters(), lr=lr)
    loader = DataLoader(x, y, batch_size=32, shuffle=True, seed=0)
    every = len(loader) // checks_per_epoch
    t, losses = [0.0], [whole_data_mse(model)]
    stopped = False
    for epoch in range(epochs):
        for i, (xb, yb) in enumerate(loader):
            loss = F.mse_loss(model(Tensor(xb)), Tensor(yb))
            opt.zero_grad()
            loss.backward()
            opt.step()
            if (i + 1) % every == 0 or i + 1 == len(loader):
                t.append(epoch + (i + 1) / len(loader))
                losses.append(whole_data_mse(model))
                if not losses[-1] < blown_up * losses[0]:
                    stopped = True
                    break
        if stopped:
            break
    curves[name] = (np.array(t), np.array(losses))
    ends = np.array([v for s, v in zip(t, losses) if float(s).is_integer()])   # at whole epochs
    tail = ends[len(ends) // 2:]
    status = (f"DIVERGED at epoch {t[-1]:.2f}: loss {losses[-1]:.3g}" if stopped else
              f"final {losses[-1]:.4f}, mean over the second half {tail.mean():.4f}")
    print(f"  lr = {lr:<6} {name:22s} {status}")


def at_epochs(name):
    """The loss at whole epochs 0, 1, 2, ... of a run."""
    t, v = curves[name]
    return v[[i for i, s in enumerate(t) if float(s).is_integer()]]


def second_half_mean(name):
    v = at_epochs(name)
    return v[len(v) // 2:].mean()


def worst_rise(name):
    """The biggest factor by which the loss went UP from one whole epoch to the next."""
    v = at_epochs(name)
    return float(np.max(v[1:] / v[:-1]))


# %% [markdown]
# ## What the chart shows

# %%
section("What the chart shows")
t_div, v_div = curves["very high (diverges)"]
claim(not np.all(np.isfinite(v_div)) or v_div[-1] >= blown_up * v_div[0],
      f"lr = {rates['very high (diverges)']}: the loss goes UP, by {blown_up:.0f}x or to overflow, "
      f"within {t_div[-1]:.2f} epochs - the rate to avoid")
others = [n for n in rates if n != "very high (diverges)"]
means = {n: second_half_mean(n) for n in others}
best = min(means, key=means.get)
print("mean loss over the second half of training: "
      + ", ".join(f"{n} {m:.4f}" for n, m in means.items()))
claim(best == "good", f"lr = {rates['good']} has the lowest loss over the second half of training")
small, good = at_epochs("too small"), at_epochs("good")
claim(np.all(small[1:] > good[1:]),
      f"lr = {rates['too small']} is behind the good rate after every single epoch: too slow")
claim(small[-1] > 2 * good[-1],
      f"after {epochs} epochs it is still more than 2x worse ({small[-1]:.4f} vs {good[-1]:.4f})")
claim(at_epochs("too large")[1] < small[1],
      f"lr = {rates['too large']} starts fast (epoch 1: {at_epochs('too large')[1]:.3f} vs "
      f"{small[1]:.3f} for the small rate)")
claim(worst_rise("too large") > worst_rise("good"),
      f"but is unstable: its loss jumps up by as much as {worst_rise('too large'):.1f}x from "
      f"one epoch to the next, the good rate's by at most {worst_rise('good'):.2f}x")


# %% [markdown]
# ## Figure

# %%
section("Figure")
fig, ax = plt.subplots(figsize=(8, 5))
colours = {"too small": "C0", "good": "C3", "too large": "C2", "very high (diverges)": "C1"}
for name, (t, v) in curves.items():
    shown = np.minimum(v, 1e3)
    diverged = not v[-1] < blown_up * v[0]
    label = f"{name}: lr = {rates[name]}" + (" (stopped at x; drawn capped at 1e3)" if diverged else "")
    ax.plot(t, shown, color=colours[name], label=label)
    if diverged:
        ax.plot(t[-1], shown[-1], "x", color=colours[name], ms=10)
ax.set(yscale="log", xlabel="epoch", ylabel="loss (MSE on all examples)",
       title="loss vs epochs for different learning rates")
ax.legend()
lesson.save(fig, "learning_rates.png")
lesson.done()
