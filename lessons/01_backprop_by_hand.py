# %% [markdown]
# # Lesson 1. Backpropagation by hand: the backpropagation lecture's two-layer network, its gradients written out in NumPy.
#
# The network of the lecture on backpropagation and training, for inputs X with one example per column:
#
#     Z     = W1^T X              (hidden pre-activations)
#     P     = phi(Z)              (hidden activations)
#     Y_hat = W2^T P              (prediction)
#     L     = 1/2 sum_i (y_hat_i - y_i)^2
#     W     = W - alpha dL/dW     (for W1 and W2)
#
# This lesson deliberately computes the forward and backward passes with plain NumPy, one line per
# equation, so you can see every step of the chain rule. It then checks the hand-written gradients
# twice: against minidl's automatic differentiation, and against central differences
# (minidl.gradcheck). Finally it trains the network with the lecture's update rule.
#
# Run:  python lessons/01_backprop_by_hand.py [--quick] [--out DIR]

# %%
"""Backpropagation by hand: the backpropagation lecture's two-layer network, its gradients written out in NumPy."""
import matplotlib.pyplot as plt
import numpy as np
from _common import claim, section, start

import minidl
import minidl.functional as F
from minidl import Tensor

lesson = start("01_backprop_by_hand", __doc__)
rng = lesson.rng


# %% [markdown]
# ## A small regression problem

# %%
section("A small regression problem")
n = lesson.pick(200, 100)
hidden = 16
x = np.sort(rng.uniform(-3, 3, n))
y = np.sin(x) + 0.1 * rng.standard_normal(n)
# The lecture has no bias terms. Appending a constant 1 to every input lets W1 carry the
# hidden biases anyway: row 0 of X is x, row 1 is all ones.
X = np.stack([x, np.ones(n)])            # (2, n): one example per column, as in the lecture
Y = y[None, :]                           # (1, n)
print(f"{n} examples of y = sin(x) + noise, x in [-3, 3]; X is {X.shape} (feature x example), "
      f"Y is {Y.shape}")
print(f"network: 2 inputs (x and a constant 1) -> {hidden} tanh units -> 1 output, no other biases")

W1 = 0.8 * rng.standard_normal((2, hidden))   # (inputs, hidden), so that Z = W1^T X
W2 = 0.3 * rng.standard_normal((hidden, 1))   # (hidden, 1),      so that Y_hat = W2^T P


def phi(z):
    return np.tanh(z)


def phi_prime_from_p(p):
    """tanh'(z) = 1 - tanh(z)^2, written with P = tanh(Z), which the forward pass already has."""
    return 1.0 - p ** 2


def forward_backward(W1, W2):
    """The lecture's equations, one NumPy line each. Returns the loss, the gradients and P."""
    # ---- forward pass
    Z = W1.T @ X                          # Z = W1^T X                        (hidden, n)
    P = phi(Z)                            # P = phi(Z)                        (hidden, n)
    Y_hat = W2.T @ P                      # Y_hat = W2^T P                    (1, n)
    L = 0.5 * np.sum((Y_hat - Y) ** 2)    # L = 1/2 sum (y_hat - y)^2
    # ---- backward pass: the chain rule, from the loss back to each weight
    dL_dYhat = Y_hat - Y                  # dL/dY_hat = (Y_hat - Y)           (1, n)
    dL_dW2 = P @ dL_dYhat.T               # dL/dW2 = (W2^T P - Y) P           (hidden, 1)
    dL_dP = W2 @ dL_dYhat                 # dL/dP = dL/dY_hat dY_hat/dP = W2 (Y_hat - Y)
    dL_dZ = dL_dP * phi_prime_from_p(P)   # dP/dZ = phi'(Z), element by element
    dL_dW1 = X @ dL_dZ.T                  # dZ/dW1: dL/dW1 = X (dL/dZ)^T      (2, hidden)
    return L, dL_dW1, dL_dW2, P


L0, g1, g2, _ = forward_backward(W1, W2)
print(f"initial loss L = {L0:.4f}")
print("dL/dW1 (by hand) =\n", g1)
print("dL/dW2^T (by hand) =\n", g2.T)
print("Note: the lecture writes dL/dW1 = (Y_hat - Y) W2^T phi(W1^T X) X. The middle factor is")
print("dP/dZ, the DERIVATIVE phi'(W1^T X) (for tanh: 1 - P^2), and as matrices the product is")
print("X (W2 (Y_hat - Y) * phi'(Z))^T, with * element by element; that is the line for dL_dW1.")


# %% [markdown]
# ## Check 1: minidl's automatic differentiation

# %%
section("Check 1: minidl's automatic differentiation")
print("The same forward pass built from minidl Tensors; backward() applies the chain rule for us.")
print("F.mse_loss(..., reduction='half_sum') is exactly the lecture's 1/2 sum (y_hat - y)^2.")


def loss_with_minidl(w1, w2):
    return F.mse_loss(w2.T @ F.tanh(w1.T @ Tensor(X)), Tensor(Y), reduction="half_sum")


t1 = Tensor(W1.copy(), requires_grad=True)
t2 = Tensor(W2.copy(), requires_grad=True)
L_auto = loss_with_minidl(t1, t2)
L_auto.backward()
err1 = np.abs(t1.grad - g1).max()
err2 = np.abs(t2.grad - g2).max()
print(f"max |autograd - hand| for dL/dW1: {err1:.2e}, for dL/dW2: {err2:.2e} (float64)")
claim(abs(L_auto.item() - L0) <= 1e-12 * L0, "minidl's half_sum MSE gives the same loss as the NumPy line")
claim(err1 <= 1e-10 * np.abs(g1).max() and err2 <= 1e-10 * np.abs(g2).max(),
      "the hand-written gradients equal minidl's autograd to 1e-10 (relative)")


# %% [markdown]
# ## Check 2: central differences

# %%
section("Check 2: central differences")
eps = 1e-6
i, j = 0, 3
bumped_up, bumped_down = W1.copy(), W1.copy()
bumped_up[i, j] += eps
bumped_down[i, j] -= eps
numeric = (forward_backward(bumped_up, W2)[0] - forward_backward(bumped_down, W2)[0]) / (2 * eps)
print(f"one weight by hand: (L(W1[{i},{j}] + eps) - L(W1[{i},{j}] - eps)) / (2 eps) = {numeric:.8f}; "
      f"backprop says {g1[i, j]:.8f}")
claim(abs(numeric - g1[i, j]) <= 1e-5 * max(1.0, abs(g1[i, j])),
      f"the central difference for W1[{i},{j}] agrees with backprop")
print("minidl.gradcheck does this for every weight (with a random weighting of the outputs):")
result = minidl.gradcheck(loss_with_minidl, [Tensor(W1.copy(), requires_grad=True),
                                             Tensor(W2.copy(), requires_grad=True)])
print(f"  {result}")
claim(result.passed and result.max_abs_error < 1e-5,
      f"all {W1.size + W2.size} gradients pass minidl.gradcheck (worst error {result.max_abs_error:.1e})")


# %% [markdown]
# ## The graph behind the loss, drawn
#
# Every minidl op that touches a tensor requiring a gradient records itself: the result keeps the
# op (its `grad_fn`), the op keeps its inputs. `backward()` walks this graph from the loss back to
# the weights. `minidl.viz` draws it: boxes are tensors (shape, dtype; the leaves named), ellipses
# are ops. Read it left to right as the lecture's equations: W2^T and W1^T (Python evaluates
# `w2.T` first, as written), Z = W1^T X, P = tanh(Z), Y_hat = W2^T P, then the loss's
# subtraction, square, sum and the factor 1/2.

# %%
section("The graph behind the loss, drawn")
from minidl import viz  # noqa: E402
from minidl.graph import functions_in_forward_order  # noqa: E402

t1, t2 = Tensor(W1.copy(), requires_grad=True), Tensor(W2.copy(), requires_grad=True)
L_graph = loss_with_minidl(t1, t2)
L_graph.backward(retain_graph=True)          # keep the graph, to draw it with the gradients
names = {"W1": t1, "W2": t2}
print(viz.to_text(L_graph, names))
ops = [type(f).__name__ for f in functions_in_forward_order(L_graph)]
print("ops in forward order:", " -> ".join(ops))
claim(ops[:5] == ["Permute", "Permute", "MatMul", "Tanh", "MatMul"],
      "the graph's first five ops are the lecture's W2^T, W1^T, Z = W1^T X, P = tanh(Z), W2^T P")
claim(f"W1 (2, {hidden}) float64 grad norm {np.linalg.norm(g1):.4g}" in viz.to_text(L_graph, names),
      "after backward the drawn W1 carries the norm of the hand-written dL/dW1")
graph_file = viz.draw(L_graph, lesson.out / "graph.png", names)
print(f"graph: {graph_file}" + ("" if graph_file.suffix == ".png" else
                                "  (Graphviz's dot is not installed, so the text tree was written)"))
lesson.show_image(graph_file)


# %% [markdown]
# ## Check 3: a wrong backward, found by name
#
# A gradient check on a whole model says *that* a gradient is wrong. To say *which op* is wrong,
# `gradcheck` replays every op alone, with the inputs it saw and the gradient that really reached
# it, against central differences of that op's forward. Here we plant a classic slip: a tanh whose
# backward uses 1 - P instead of 1 - P^2.

# %%
section("Check 3: a wrong backward, found by name")


class TanhForgotTheSquare(minidl.Function):
    """tanh, with the slip dP/dZ = 1 - P (it should be 1 - P^2)."""

    def forward(self, z):
        self.p = np.tanh(z)
        return self.p

    def backward(self, g):
        return (g * (1 - self.p),)


def wrong_loss(w1, w2):
    return F.mse_loss(w2.T @ TanhForgotTheSquare.apply(w1.T @ Tensor(X)), Tensor(Y), reduction="half_sum")


wrong = minidl.gradcheck(wrong_loss, [Tensor(W1.copy(), requires_grad=True), Tensor(W2.copy(), requires_grad=True)],
                         raise_exception=False)
print(wrong)
claim(not wrong.passed and wrong.bad_op is not None and wrong.bad_op.op == "TanhForgotTheSquare",
      "the check fails and names the planted op, not the matrix products around it")
claim(wrong.bad_op.position == ops.index("Tanh") and wrong.bad_op.output_shape == (hidden, n),
      f"at the tanh's place in the graph: op {ops.index('Tanh')} in forward order, output ({hidden}, {n})")


# %% [markdown]
# ## Training with the lecture's rule W = W - alpha dL/dW

# %%
section("Training with the lecture's rule W = W - alpha dL/dW")
steps = lesson.pick(3000, 1500)
alpha = 0.2 / n      # the loss is a SUM over examples, so its gradient grows with n; scale alpha
print(f"full-batch gradient descent, alpha = 0.2/n = {alpha:.4g}, {steps} steps")
Y_start = W2.T @ phi(W1.T @ X)     # the untrained prediction, for the figure
losses = []
for step in range(steps):
    L, dW1, dW2, _ = forward_backward(W1, W2)
    losses.append(L)
    W1 = W1 - alpha * dW1                 # W1 = W1 - alpha dL/dW1
    W2 = W2 - alpha * dW2                 # W2 = W2 - alpha dL/dW2
    if step % (steps // 6) == 0:
        print(f"  step {step:5d}  L = {L:9.4f}   mean squared error = {2 * L / n:.4f}")
losses.append(forward_backward(W1, W2)[0])
losses = np.array(losses)
noise_floor = 0.5 * n * 0.1 ** 2         # what a perfect sin(x) would still score on noisy y
print(f"final L = {losses[-1]:.4f}; the noise alone (std 0.1) costs about 1/2 n 0.01 = {noise_floor:.2f}")
claim(losses[-1] < losses[0] / 10, f"training cut the loss more than tenfold ({losses[0]:.1f} -> {losses[-1]:.2f})")
claim(losses[-1] < 3 * noise_floor, "the fit gets within 3x of the noise floor: the net learned sin(x)")
claim(np.all(np.diff(losses) <= 1e-9 * losses[:-1]),
      "with this small alpha the loss went down at every single step")


# %% [markdown]
# ## Figure

# %%
section("Figure")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.scatter(x, y, s=8, color="0.6", label="data: sin(x) + noise")
ax1.plot(x, (W2.T @ phi(W1.T @ X))[0], color="C3", lw=2, label=f"after {steps} steps")
ax1.plot(x, Y_start[0], color="0.3", ls=":", label="before training")
ax1.set(xlabel="x", ylabel="y", title="two-layer tanh network, trained by hand")
ax1.legend()
ax2.semilogy(losses, color="C0")
ax2.axhline(noise_floor, color="0.5", ls="--", label="noise floor 1/2 n sigma^2")
ax2.set(xlabel="gradient-descent step", ylabel="L = 1/2 sum (y_hat - y)^2", title="the loss falls")
ax2.legend()
lesson.save(fig, "backprop_by_hand.png")
lesson.done()
