# %% [markdown]
# # Lesson 13. One convolution, four ways: a Python loop, im2col + GEMM, Numba kernels, and the GPU.
#
# A convolution layer (the lab on CNN layer arithmetic, with stride S and zero padding P) computes, for every image n,
# filter f and output position (i, j),
#
#     y[n, f, i, j] = b[f] + sum_c sum_p sum_q  w[f, c, p, q] * x_pad[n, c, i*S + p, j*S + q]
#
# Written as seven nested loops, that is exactly what the formula says and hopelessly slow in
# Python. minidl instead copies every receptive field into one column of a matrix ("im2col"), so
# the whole layer becomes ONE matrix product (GEMM): W (F, C*k*k) @ cols (C*k*k, N*OH*OW), which an
# optimised BLAS library runs at full speed. The backward pass is the same trick in reverse: a
# GEMM, then "col2im" adds each column back into its window.
#
# The NumPy im2col in minidl.functional.conv is the readable reference; its faster versions are
# attributes of the op: im2col.cpu, Numba loops for the CPU (kernels/cpu/windows.py), and
# im2col.cuda, a CUDA kernel (kernels/cuda/windows.py) for when CuPy sees a GPU. This lesson
# runs one convolution every way, checks that they all agree, and times them in the same run.
#
# Run:  python lessons/13_kernels.py [--quick] [--out DIR]

# %%
"""One convolution, four ways: a Python loop, im2col + GEMM, Numba kernels, and the GPU."""
import time

import matplotlib.pyplot as plt
import numba
import numpy as np
from _common import claim, section, start

import minidl.functional as F
from minidl import Tensor, backend, kernels
from minidl.functional import by_definition
from minidl.functional.conv import im2col

lesson = start("13_kernels", __doc__)
rng = lesson.rng
RTOL, ATOL = 1e-4, 1e-4        # float32 sums of a few hundred products, in a different order


def best_time(fn, repeats):
    """The fastest of `repeats` calls, in seconds (the least disturbed by other programs)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def conv_im2col_gemm(x, w, b, stride, padding, unfold):
    """im2col (the version ``unfold``), then ONE matrix product for the whole batch, plus the bias."""
    f_out, c_in, kh, kw = w.shape
    cols = unfold(x, kh, kw, (stride, stride), (padding, padding), (1, 1))   # (C*k*k, N*OH*OW)
    n, _, oh, ow = F.conv_output_shape(x.shape, w.shape, stride, padding)   # the lecture's formula
    y = w.reshape(f_out, c_in * kh * kw) @ cols + b[:, None]               # (F, N*OH*OW)
    return y.reshape(f_out, n, oh, ow).transpose(1, 0, 2, 3)


print("im2col's versions:", im2col)
print("kernels:", kernels.status())


# %% [markdown]
# ## 1. The definition as a loop, against im2col + GEMM (a tiny layer)

# %%
section("1. The definition as a loop, against im2col + GEMM (a tiny layer)")
tiny = dict(n=1, c=lesson.pick(4, 3), hw=lesson.pick(12, 8), f=lesson.pick(8, 4), k=3,
            stride=1, padding=1)
x_t = rng.standard_normal((tiny["n"], tiny["c"], tiny["hw"], tiny["hw"])).astype(np.float32)
w_t = rng.standard_normal((tiny["f"], tiny["c"], tiny["k"], tiny["k"])).astype(np.float32)
b_t = rng.standard_normal(tiny["f"]).astype(np.float32)
macs_t = tiny["n"] * tiny["f"] * tiny["hw"] ** 2 * tiny["c"] * tiny["k"] ** 2
print(f"x {x_t.shape}, w {w_t.shape}, stride 1, padding 1: {macs_t:,d} multiply-adds")
y_loop = by_definition.conv2d(x_t, w_t, b_t, tiny["stride"], tiny["padding"])
y_ref_t = conv_im2col_gemm(x_t, w_t, b_t, tiny["stride"], tiny["padding"], im2col.reference)
y_lib_t = F.conv2d(Tensor(x_t), Tensor(w_t), Tensor(b_t), stride=1, padding=1).numpy()
err = np.abs(y_loop - y_ref_t).max()
print(f"largest difference loop vs im2col+GEMM: {err:.2e}")
claim(np.allclose(y_loop, y_ref_t, rtol=RTOL, atol=ATOL),
      f"the loop and im2col + GEMM compute the same convolution (rtol={RTOL}, atol={ATOL})")
claim(np.allclose(y_lib_t, y_ref_t, rtol=RTOL, atol=ATOL),
      "and so does minidl.functional.conv2d, the op the Conv2d layer calls")

t_loop = best_time(lambda: by_definition.conv2d(x_t, w_t, b_t, 1, 1), lesson.pick(3, 1))
t_gemm_t = best_time(lambda: conv_im2col_gemm(x_t, w_t, b_t, 1, 1, im2col.reference), 20)
print(f"loop: {t_loop * 1e3:8.2f} ms   im2col + GEMM (NumPy reference): {t_gemm_t * 1e3:6.3f} ms   "
      f"-> im2col + GEMM is {t_loop / t_gemm_t:,.0f}x faster on the same layer")
print("The loop (minidl.functional.by_definition.conv2d) pays the Python interpreter for every")
print("output value, one window's dot product at a time; the GEMM runs them all inside compiled")
print("BLAS code (on one thread here: lessons/_common.py pins BLAS to one).")


# %% [markdown]
# ## 2. What im2col costs: memory

# %%
section("2. What im2col costs: memory")
cols_t = im2col.reference(x_t, 3, 3, (1, 1), (1, 1), (1, 1))
print(f"the image holds {x_t.size:,d} numbers; its column matrix {cols_t.shape} holds "
      f"{cols_t.size:,d}: each pixel is copied into up to k*k = 9 windows")
claim(cols_t.shape == (tiny["c"] * 9, tiny["n"] * tiny["hw"] ** 2) and cols_t.size == 9 * x_t.size,
      "with 'same' padding and stride 1 the columns are exactly k*k = 9 times the image")
row = (1 * 3 + 2) * 3 + 0                       # channel 1, kernel offset (2, 0)
i, j = 4, 5                                      # output position
claim(cols_t[row, i * tiny["hw"] + j] == x_t[0, 1, i + 2 - 1, j + 0 - 1],
      "row (c*k + p)*k + q of the columns, at image 0's output (i, j), holds x[0, c, i+p-P, j+q-P]")


# %% [markdown]
# ## 3. A lab-sized layer: the NumPy reference against the Numba kernels

# %%
section("3. A lab-sized layer: the NumPy reference against the Numba kernels")
n_img = lesson.pick(32, 8)
shape = dict(n=n_img, c=16, hw=14, f=32, k=5, padding=2)  # the lab CNN's second conv (14x14x16 -> 32)
x = rng.standard_normal((n_img, 16, 14, 14)).astype(np.float32)
w = (0.05 * rng.standard_normal((32, 16, 5, 5))).astype(np.float32)
b = rng.standard_normal(32).astype(np.float32)
g = rng.standard_normal((n_img, 32, 14, 14)).astype(np.float32)   # an upstream gradient
macs = n_img * 32 * 14 * 14 * 16 * 25
print(f"x {x.shape}, w {w.shape}, padding 2: {macs / 1e6:.1f} M multiply-adds forward, "
      "about twice that backward")

t0 = time.perf_counter()
cols_numba = im2col.cpu(x, 5, 5, (1, 1), (2, 2), (1, 1))
print(f"first Numba im2col call (compiles, or loads the cached machine code): "
      f"{(time.perf_counter() - t0) * 1e3:.0f} ms")
cols_ref = im2col.reference(x, 5, 5, (1, 1), (2, 2), (1, 1))
claim(np.array_equal(cols_numba, cols_ref),
      "Numba's im2col gives exactly the reference's columns (it only copies numbers)")


def conv_forward_backward():
    """F.conv2d forward and backward through minidl's Tensor; returns (y, dx, dw, db)."""
    xt, wt, bt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
    y = F.conv2d(xt, wt, bt, padding=2)
    y.backward(Tensor(g))
    return y.numpy(), xt.grad, wt.grad, bt.grad     # .grad holds raw arrays


with kernels.use_reference():
    ref = conv_forward_backward()
fast = conv_forward_backward()                   # the registered Numba kernels (im2col, col2im)
for name, a, r in zip(("y", "dL/dx", "dL/dw", "dL/db"), fast, ref):
    print(f"  {name:6s} largest difference Numba vs reference: {np.abs(a - r).max():.2e}")
claim(all(np.allclose(a, r, rtol=RTOL, atol=ATOL * max(1.0, float(np.abs(r).max())))
          for a, r in zip(fast, ref)),
      "forward and all three gradients agree between the Numba kernels and the reference "
      f"(rtol={RTOL}, atol={ATOL} x the largest value)")

repeats = lesson.pick(5, 2)
timings = {}
timings["im2col: NumPy reference"] = best_time(
    lambda: im2col.reference(x, 5, 5, (1, 1), (2, 2), (1, 1)), repeats)
threads = numba.get_num_threads()            # what the rest of this run uses
cores = numba.config.NUMBA_NUM_THREADS       # the most Numba may use on this machine
for n_threads in sorted({cores, 1}, reverse=True):
    numba.set_num_threads(n_threads)         # the same kernel, its rows shared over n threads
    timings[f"im2col: Numba, {n_threads} thread{'s' * (n_threads > 1)}"] = best_time(
        lambda: im2col.cpu(x, 5, 5, (1, 1), (2, 2), (1, 1)), repeats)
numba.set_num_threads(threads)
timings["forward GEMM alone"] = best_time(lambda: w.reshape(32, -1) @ cols_ref, repeats)
with kernels.use_reference():
    timings["conv fwd+bwd: reference"] = best_time(conv_forward_backward, repeats)
timings["conv fwd+bwd: Numba"] = best_time(conv_forward_backward, repeats)


# %% [markdown]
# ## 4. The same layer on the GPU

# %%
section("4. The same layer on the GPU")
gpu = backend.cuda_available()
if gpu:
    cp = backend.cupy_or_none()

    def gpu_forward_backward():
        xt = Tensor(x).to("cuda")
        wt, bt = Tensor(w).to("cuda"), Tensor(b).to("cuda")
        for t in (xt, wt, bt):
            t.requires_grad = True
        y = F.conv2d(xt, wt, bt, padding=2)
        y.backward(Tensor(g).to("cuda"))
        cp.cuda.Device().synchronize()            # GPU calls return early; wait for the result
        return tuple(backend.to_device(a, "cpu") for a in (y.data, xt.grad, wt.grad, bt.grad))

    on_gpu = gpu_forward_backward()               # warm-up: CUDA context, kernel compilation
    claim(all(np.allclose(a, r, rtol=RTOL, atol=ATOL * max(1.0, float(np.abs(r).max())))
              for a, r in zip(on_gpu, ref)),
          "the GPU computes the same forward and gradients (float32 tolerance)")
    timings["conv fwd+bwd: GPU"] = best_time(gpu_forward_backward, repeats)
else:
    print("No CUDA GPU (or no CuPy) here: the GPU row is skipped. On a machine with one,")
    print("`pip install 'minidl[gpu]'` and run this lesson again.")


# %% [markdown]
# ## 5. Timings, measured in this run

# %%
section("5. Timings, measured in this run")
base = timings["conv fwd+bwd: reference"]
for name, t in timings.items():
    extra = ""
    if name.startswith("conv"):
        extra = f"  speed-up vs reference {base / t:5.2f}x"
    print(f"  {name:28s} {t * 1e3:9.2f} ms{extra}")
for name in [k for k in timings if k.startswith("im2col: Numba")]:
    print(f"  {name}: {timings['im2col: NumPy reference'] / timings[name]:.2f}x the reference's speed")
print(f"The conv rows used {threads} Numba thread(s). Ratios, not absolute times, are what carry over to another")
print("machine, and even they move with the load: a kernel split over all cores waits for the")
print("slowest one, so when other programs share the cores the 1-thread row can even win.")


# %% [markdown]
# ## Figure

# %%
section("Figure")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
ax1.bar(["Python loop", "im2col + GEMM"], [t_loop * 1e3, t_gemm_t * 1e3], color=["C3", "C0"])
ax1.set(yscale="log", ylabel="ms (log scale)",
        title=f"tiny layer ({macs_t:,d} multiply-adds): {t_loop / t_gemm_t:,.0f}x")
names = list(timings)
ax2.barh(names, [timings[k] * 1e3 for k in names],
         color=["C0" if "reference" in k else "C2" if "Numba" in k else "C4" if "GPU" in k
                else "C7" for k in names])
ax2.invert_yaxis()
ax2.set(xlabel="ms (best of %d)" % repeats,
        title=f"lab-sized layer, batch {n_img}: 16x14x14 -> 32, 5x5")
lesson.save(fig, "conv_timings.png")
lesson.done()
