# %% [markdown]
# # Lesson 16. Data parallelism: the mean of the shards' gradients is the full batch's gradient, and what changes with the global batch size.
#
# One machine trains one model; several can train it together by splitting each mini-batch
# between them. Every process (a *rank*) keeps a copy of the model, computes the gradient of its
# own shard of the batch, and all of them average those gradients (an MPI *all-reduce*) and take
# the same step. Why is that the same training? The loss of a batch of B = S b samples is the
# mean of the per-sample losses, and its gradient is linear in them:
#
#     dL/dW = (1/B) sum_i dl_i/dW = (1/S) sum_r [ (1/b) sum_{i in shard r} dl_i/dW ] = mean of the shards' gradients
#
# -- as long as the shards are the same size and nothing couples the samples of a batch.
# Batch normalisation does couple them (every output depends on the batch's mean and variance),
# which is why `minidl.distributed` has `SyncBatchNorm`.
#
# This lesson checks the equation in one process, trains "four ranks" that exist only as a
# loop, shows what the global batch size changes (fewer steps, less noisy gradients, and the
# linear learning-rate scaling rule of Goyal et al., 2017), and, where MPI is installed, runs a
# real two-process job with `mpiexec`.
#
# Run:  python lessons/16_data_parallel.py [--quick] [--out DIR]
#       (the MPI part needs pip install -e '.[distributed]'; without it, it is skipped)

# %%
"""Data parallelism: the mean of the shards' gradients is the full batch's gradient, and what changes with the global batch size."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
from _common import REPO, claim, section, start

import minidl
import minidl.functional as F
from minidl import Tensor, distributed, nn, optim
from minidl.data import DataLoader, digits, to_float
from minidl.train import evaluate, fit

lesson = start("16_data_parallel", __doc__)
rng = lesson.rng

train = digits("train")
x_all = to_float(train.images).reshape(len(train), -1).astype(np.float64)
x_all = (x_all - x_all.mean()) / x_all.std()
y_all = train.labels
print(f"data: scikit-learn's digits, {len(y_all)} training images of 8x8 = 64 pixels, 10 classes")


def mlp(batch_norm=False, dtype=np.float64):
    """64 -> 32 -> 10, optionally with batch norm between, seeded: the same weights every time."""
    minidl.manual_seed(0)
    layers = [nn.Linear(64, 32)] + ([nn.BatchNorm1d(32)] if batch_norm else []) + [nn.ReLU(), nn.Linear(32, 10)]
    net = nn.Sequential(*layers)
    return net.double() if dtype == np.float64 else net


def gradient(net, x, y):
    """dL/dW of the mean cross-entropy of (x, y), every parameter flattened into one vector."""
    net.zero_grad()
    F.cross_entropy(net(Tensor(x)), y).backward()
    return np.concatenate([p.grad.ravel() for p in net.parameters()])


# %% [markdown]
# ## The mean of the shards' gradients is the batch's gradient
#
# One batch of 64 images; the gradient of its loss, and the gradients of four shards of 16
# images each (what four ranks would compute), averaged. Then shards of unequal sizes: their
# plain mean weights each shard equally, not each sample, so it is a different vector -- which
# is why `ShardedLoader` gives every rank the same number of samples (repeating a few when the
# data does not divide evenly) and why `DistributedOptimizer` may simply divide by the number of
# ranks.

# %%
section("The mean of the shards' gradients is the batch's gradient")
net = mlp()
xb, yb = x_all[:64], y_all[:64]
full = gradient(net, xb, yb)
shards = [gradient(net, xb[16 * r:16 * (r + 1)], yb[16 * r:16 * (r + 1)]) for r in range(4)]
mean = np.mean(shards, axis=0)
print(f"{full.size} gradient entries; |full| = {np.linalg.norm(full):.4f}; each shard's differs from "
      f"it by {', '.join(f'{np.linalg.norm(s - full):.3f}' for s in shards)}")
claim(np.abs(mean - full).max() < 1e-12,
      f"the mean of 4 shards' gradients (16 images each) is the 64-image batch's gradient "
      f"(max difference {np.abs(mean - full).max():.1e}), though each shard's alone is far off")
small, large = gradient(net, xb[:10], yb[:10]), gradient(net, xb[10:], yb[10:])
plain, weighted = (small + large) / 2, (10 * small + 54 * large) / 64
claim(np.abs(plain - full).max() > 1e-3 and np.abs(weighted - full).max() < 1e-12,
      f"with shards of 10 and 54 images the plain mean is off by {np.abs(plain - full).max():.3f}; "
      f"weighting by shard size (10/64, 54/64) gives the batch's gradient again")


# %% [markdown]
# ## Batch normalisation couples the samples
#
# In training mode a BatchNorm layer normalises with the statistics of the batch it is given. A
# shard of 16 images has other statistics than the batch of 64, so the shards' gradients no
# longer average to the batch's. In evaluation mode (running statistics, fixed numbers) the
# layer is an ordinary per-sample function again and the equation holds. With several ranks,
# `SyncBatchNorm` computes the statistics of the global batch: each rank sends its count, mean
# and sum of squared deviations (an allgather), every rank combines them into the global mean
# and variance, and the backward pass all-reduces the two sums it needs.

# %%
section("Batch normalisation couples the samples")
bn_net = mlp(batch_norm=True)
bn_net.train()
bn_full = gradient(bn_net, xb, yb)
bn_mean = np.mean([gradient(bn_net, xb[16 * r:16 * (r + 1)], yb[16 * r:16 * (r + 1)]) for r in range(4)], axis=0)
bn_net.eval()
eval_full = gradient(bn_net, xb, yb)
eval_mean = np.mean([gradient(bn_net, xb[16 * r:16 * (r + 1)], yb[16 * r:16 * (r + 1)]) for r in range(4)], axis=0)
claim(np.abs(bn_mean - bn_full).max() > 1e-3,
      f"with batch norm in training mode the shards' mean gradient is off by "
      f"{np.abs(bn_mean - bn_full).max():.3f}: each shard was normalised by its own statistics")
claim(np.abs(eval_mean - eval_full).max() < 1e-12,
      "in evaluation mode (running statistics) the shards' mean is the batch's gradient again")


# %% [markdown]
# ## Four ranks in a loop
#
# Data-parallel training, with the ranks simulated by a loop in this one process: each epoch
# the four "ranks" shard the same shuffled order (`ShardedLoader`, told only its rank and the
# number of ranks: rank r takes every fourth image of the epoch's order, from the r-th), each computes the gradient of its 8 images, the four are averaged (what the
# all-reduce does), and one SGD step is taken. One process with batches of 32 and the same
# shuffle seed takes the very same steps. Then the real `minidl.distributed` machinery with the
# communicator of this single process (`distributed.init()` outside `mpiexec`): size 1, and
# training equal to plain training bit for bit.

# %%
section("Four ranks in a loop")
RANKS, PER_RANK, EPOCHS = 4, 8, 2
n_sim = len(y_all) // (RANKS * PER_RANK) * RANKS * PER_RANK     # whole global batches: no padding
x_sim, y_sim = x_all[:n_sim], y_all[:n_sim]
simulated = mlp()
opt = optim.SGD(simulated.parameters(), lr=0.1, momentum=0.9)
loaders = [distributed.ShardedLoader(x_sim, y_sim, PER_RANK, SimpleNamespace(rank=r, size=RANKS),
                                     shuffle=True, seed=5) for r in range(RANKS)]
steps = 0
for epoch in range(EPOCHS):
    for batches in zip(*loaders):                  # batch t of every rank
        grads = []
        for xs, ys in batches:
            simulated.zero_grad()
            F.cross_entropy(simulated(Tensor(xs)), ys).backward()
            grads.append([p.grad for p in simulated.parameters()])
        for p, *per_rank in zip(simulated.parameters(), *grads):
            p.grad = sum(per_rank) / RANKS         # the all-reduce, divided by the world size
        opt.step()
        steps += 1
one = mlp()
one_opt = optim.SGD(one.parameters(), lr=0.1, momentum=0.9)
fit(one, one_opt, DataLoader(x_sim, y_sim, RANKS * PER_RANK, shuffle=True, seed=5), epochs=EPOCHS,
    progress=False)
gap = max(np.abs(a.data - b.data).max() for a, b in zip(simulated.parameters(), one.parameters()))
print(f"the first {n_sim} images (whole global batches of {RANKS * PER_RANK}) / {RANKS} ranks = "
      f"{len(loaders[0]) * PER_RANK} per rank per epoch; {steps} steps in {EPOCHS} epochs. (All "
      f"{len(y_all)} would leave {len(y_all) - n_sim} over: ShardedLoader would repeat "
      f"{-len(y_all) % RANKS} image(s) so that every rank gets {-(-len(y_all) // RANKS)}.)")
claim(gap < 1e-10, f"4 ranks x batch 8 trained like 1 process x batch 32 (max parameter difference {gap:.1e})")

comm = distributed.init()
print(f"distributed.init() here: {comm}")
runs = []
for wrapped in (True, False):
    net = mlp(dtype=np.float32)
    opt = optim.Adam(net.parameters(), lr=1e-2)
    if wrapped:
        opt = distributed.DistributedOptimizer(opt, comm)
        loader = distributed.ShardedLoader(x_all.astype(np.float32), y_all, 32, comm, shuffle=True, seed=1)
    else:
        loader = DataLoader(x_all.astype(np.float32), y_all, 32, shuffle=True, seed=1)
    fit(net, opt, loader, epochs=2, progress=False)
    runs.append(net.state_dict())
claim(comm.size == 1 and all(np.array_equal(runs[0][k], runs[1][k]) for k in runs[1]),
      "one rank of DistributedOptimizer + ShardedLoader trains exactly as plain Adam + DataLoader")


# %% [markdown]
# ## What the global batch size changes
#
# S ranks of b images make a global batch of B = S b. Per epoch that is N / B steps instead of
# N / b: each step costs one rank the same time as before, so an epoch takes about 1/S as long,
# but it moves the weights S times less often. Each step's gradient is an average over more
# samples, so it is less noisy: its variance around the full data's gradient falls like 1/B.
#
# With the same learning rate, fewer steps of the same length make less progress per epoch.
# Goyal et al. (2017, "Accurate, large minibatch SGD") give the *linear scaling rule*: multiply
# the learning rate by k when the batch grows k times, so that k small steps and one large one
# move the weights about equally far. Early in training, when the gradients change fast, that
# large rate can blow up a deep network, so they start from the small rate and raise it linearly
# over the first epochs (*warm-up*; `optim.lr_scheduler.LinearLR` stepped per iteration). The
# rule holds up to a point (8,192 images per batch for their ResNet-50), not for any k.

# %%
section("What the global batch size changes")
for ranks in (1, 2, 4, 8):
    print(f"  {ranks} rank(s) x 8 images = global batch {8 * ranks:3d}: "
          f"{len(DataLoader(x_all, y_all, 8 * ranks)):4d} steps per epoch")

net = mlp()
truth = gradient(net, x_all, y_all)
samples = lesson.pick(200, 80)
variance = {}
for batch in (16, 64, 256):
    draws = [gradient(net, *(lambda i: (x_all[i], y_all[i]))(rng.choice(len(y_all), batch, replace=False)))
             for _ in range(samples)]
    variance[batch] = float(np.mean([np.sum((d - truth) ** 2) for d in draws]))
    print(f"  batch {batch:3d}: mean squared distance of a batch's gradient from the full data's "
          f"{variance[batch]:.4f} ({samples} random batches)")
ratio = variance[16] / variance[64]
claim(3 < ratio < 5.5, f"4x the batch, about 1/4 of the gradient's variance (here 1/{ratio:.2f}; "
      f"sampling without replacement from {len(y_all)} images makes it a little more than 4)")

EPOCHS_LR = 10
x32 = x_all.astype(np.float32)


def train_with(batch, lr, warmup_epochs=0):
    """SGD with momentum 0.9 for EPOCHS_LR epochs; (loss per epoch, final loss on all the data)."""
    net = mlp(dtype=np.float32)
    opt = optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    loader = DataLoader(x32, y_all, batch, shuffle=True, seed=0)
    schedule = None
    if warmup_epochs:           # from the small batch's rate up to lr, over the first epochs
        schedule = optim.lr_scheduler.LinearLR(opt, start_factor=min(1.0, 0.01 / lr),
                                               total_iters=warmup_epochs * len(loader))
    history = fit(net, opt, loader, epochs=EPOCHS_LR, scheduler=schedule,
                  scheduler_interval="step", progress=False)
    return history.train_loss, evaluate(net, DataLoader(x32, y_all, 2048))["loss"]


settings = {"batch 8, lr 0.01": (8, 0.01, 0), "batch 64, lr 0.01 (same rate)": (64, 0.01, 0),
            "batch 64, lr 0.08 (x8, the linear rule)": (64, 0.08, 0),
            "batch 64, lr 0.08 after 1 epoch of warm-up": (64, 0.08, 1),
            f"batch {len(y_all)} (all), lr {0.01 * len(y_all) / 8:.2f}, 5 epochs of warm-up": (len(y_all), 0.01 * len(y_all) / 8, 5)}
curves = {}
for name, (batch, lr, warm) in settings.items():
    losses, final = train_with(batch, lr, warm)
    curves[name] = (losses, final)
    print(f"  {name:50s} {len(DataLoader(x32, y_all, batch)) * EPOCHS_LR:4d} steps, final loss {final:.4f}; "
          f"per epoch {' '.join(f'{v:.3f}' for v in losses[:4])} ...")
base, same, scaled, warmed, whole = (curves[k][1] for k in settings)
claim(same > 5 * base, f"8x the batch at the same rate: after {EPOCHS_LR} epochs the loss is {same / base:.0f}x "
      "the small batch's (an eighth of the steps)")
claim(scaled < 2 * base and warmed < 2 * base,
      f"8x the batch at 8x the rate: the small batch's progress per epoch again ({scaled:.4f} and, with "
      f"warm-up, {warmed:.4f} against {base:.4f})")
claim(whole > 10 * base, f"the rule has a limit: one step per epoch on all {len(y_all)} images, at "
      f"{len(y_all) / 8:.0f}x the rate, is far behind ({whole:.3f}) even with warm-up")


# %% [markdown]
# ## A real job: two processes under mpiexec
#
# `mpiexec -n 2 python script.py` starts the same script twice; `distributed.init()` gives each
# its rank. The script below trains a small CNN with `SyncBatchNorm` on 2 ranks x 8 images for
# two epochs (float64); this process then trains the same CNN with plain `BatchNorm2d` on
# batches of 16, and compares. The command line does the same for the course's models:
#
#     mpiexec -n 2 python -m minidl train lab6 --dataset fashion-mnist --distributed
#
# (with `-f hosts` naming the machines, `mpiexec -f hosts -n 4 ...` spreads the ranks over them).

# %%
section("A real job: two processes under mpiexec")
SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import minidl
    from minidl import distributed, nn, optim
    from minidl.train import fit

    def cnn():
        minidl.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(64, 10)).double()

    def images():
        rng = np.random.default_rng(0)
        return rng.standard_normal((64, 1, 8, 8)), rng.integers(0, 10, 64)

    if __name__ == "__main__":
        comm = distributed.init()
        net = distributed.convert_sync_batchnorm(cnn(), comm)
        opt = distributed.DistributedOptimizer(optim.SGD(net.parameters(), lr=0.1, momentum=0.9), comm)
        loader = distributed.ShardedLoader(*images(), 8, comm, shuffle=True, seed=1)
        history = fit(net, opt, loader, epochs=2, progress=False)
        sys.stdout.write(f"rank {comm.rank} of {comm.size}: {len(loader)} batches of 8 per epoch; "
                         f"global batch {8 * comm.size}; training loss {history.train_loss[-1]:.4f}\\n")
        sys.stdout.flush()                  # one write per line: the ranks share the terminal
        if comm.is_main:
            json.dump({k: v.tolist() for k, v in net.state_dict().items()} | {"size": comm.size},
                      open(sys.argv[1], "w"))
""")
mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
try:
    import mpi4py  # noqa: F401
    have_mpi = mpiexec is not None
except ImportError:
    have_mpi = False
if not have_mpi:
    print("MPI is not installed here (pip install -e '.[distributed]' brings mpi4py and mpiexec):")
    print("the two-process run is skipped; everything above needed no MPI.")
else:
    script, result = lesson.out / "two_ranks.py", lesson.out / "two_ranks.json"
    script.write_text(SCRIPT)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=str(REPO), MPIEXEC_TIMEOUT="120")
    proc = subprocess.run([mpiexec, "-n", "2", sys.executable, str(script), str(result)],
                          capture_output=True, text=True, timeout=150, env=env)
    print(f"$ mpiexec -n 2 python {script.name}  (exit status {proc.returncode})")
    print(textwrap.indent(proc.stdout.strip() + proc.stderr.strip()[-1500:], "  "))
    reported = {line.split(":")[0]: line.rsplit(" ", 1)[1] for line in proc.stdout.splitlines()
                if line.startswith("rank ")}
    claim(proc.returncode == 0 and len(reported) == 2 and len(set(reported.values())) == 1,
          "the two-process job ran, and both ranks report the same training loss: the whole "
          "global batch's, averaged over the ranks")
    ranks = json.loads(result.read_text())
    namespace = {"__name__": "lesson"}
    exec(SCRIPT, namespace)                       # the script's cnn() and images(), here
    ref = namespace["cnn"]()
    fit(ref, optim.SGD(ref.parameters(), lr=0.1, momentum=0.9),
        DataLoader(*namespace["images"](), 16, shuffle=True, seed=1), epochs=2, progress=False)
    gap = max(np.abs(np.array(ranks[k]) - v).max() for k, v in ref.state_dict().items())
    claim(ranks["size"] == 2 and gap < 1e-10,
          f"2 ranks x 8 with SyncBatchNorm = 1 process x 16 with BatchNorm (max difference {gap:.1e}, "
          f"running statistics included)")


# %% [markdown]
# ## Figure

# %%
section("Figure")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
for name, (losses, _) in curves.items():
    ax1.plot(range(1, EPOCHS_LR + 1), losses, marker=".", label=name)
ax1.set(xlabel="epoch", ylabel="training loss", yscale="log", title="The global batch and the learning rate")
ax1.legend(fontsize=7)
batches = np.array(sorted(variance))
ax2.loglog(batches, [variance[b] for b in batches], "o-", label="measured")
ax2.loglog(batches, variance[16] * 16 / batches, "k--", label="1/B")
ax2.set(xlabel="batch size B", ylabel="E |g_B - g|^2", title="Gradient noise falls like 1/B")
ax2.set_xticks(batches, [str(b) for b in batches])
ax2.minorticks_off()
ax2.legend()
lesson.save(fig, "data_parallel.png")
lesson.done()
