"""Planted mistakes: a reference solution with one line changed, the check it must fail and the
words its feedback must contain (a student's typical slip in each exercise)."""
from pathlib import Path

from minidl.exercises import EXERCISES

SOLUTIONS = Path(__file__).resolve().parents[2] / "minidl" / "exercises" / "solutions"

# (exercise, old text, new text, the check that must fail, a regex its feedback must match)
PLANTED = [
    ("two_layer_backprop", "(1 - P ** 2)", "(1 - P)", "values", r"dW1: .* elements differ; worst dW1\["),
    ("sigmoid_backward", "(1 - y)", "(1 + y)", "gradcheck", r"d/dx\[.*central differences"),
    ("tanh_backward", "dy * (1 - y * y)", "dy * (1 - y)", "values", r"worst dx\[.*yours .*expected"),
    ("relu_backward", "return dy * (y > 0)", "return -dy * (y > 0)", "values", r"NEGATIVE of the expected"),
    ("softmax_cross_entropy_backward", "return d / len(target)", "return d", "values",
     r"times 2: a constant factor is off"),
    ("im2col", "i * dh:i * dh + sh", "i:i + sh", "values", r"dilation=\(2, \d\)"),
    ("conv2d_forward", "y = y + b.reshape(1, f, 1, 1)", "y = y - b.reshape(1, f, 1, 1)", "values",
     r"worst y\[.*\n.*look at: y = W.reshape"),
    ("col2im", "] += \\", "] = \\", "values", r"ADD \(\+=\)"),
    ("conv2d_backward", "G[k] @ cols[k].T for k in range(groups)]).reshape(f, cg, kh, kw)",
     "G[k] @ cols[k].T for k in range(groups)]).reshape(f, cg, kw, kh).swapaxes(2, 3)", "values",
     r"last two axes swapped"),
    ("max_pool2d_forward", "rows * w + cols", "rows * (w + 2 * pw) + cols", "values",
     r"argmax: .*padding=\(\d, 1\)|padding=\(\d, 1\)[\s\S]*argmax"),
    ("max_pool2d_backward", "np.add.at(dx, (rows, argmax.reshape(-1)), dout.reshape(-1))",
     "dx[rows, argmax.reshape(-1)] = dout.reshape(-1)", "values", r"stride=\(1, \d\)[\s\S]*ADDED"),
    ("batch_norm_forward", "var = ((x - _channel(mu, x.ndim)) ** 2).mean(axis=axes)",
     "var = x.var(axis=axes, ddof=1)", "values", r"biased, 1/m"),
    ("batch_norm_backward", " - xhat * dgamma.reshape(channel))", ")", "gradcheck", r"d/dx\["),
    ("dropout", "/ x.dtype.type(1 - p)", "", "forward", r"must be 0 \(dropped\) or 1/\(1-p\)"),
    ("sgd_momentum_step", "momentum * velocity + g", "momentum * velocity + (1 - momentum) * g", "values",
     r"param after step 2"),
    ("adam_step", "m / (1 - beta1 ** t), v / (1 - beta2 ** t)", "m, v", "values", r"param after step 1"),
    ("freezing", "self.x = x if self.needs_input_grad[1] else None", "self.x = x", "frozen",
     r"W frozen, Linear.forward kept x"),
]


def plant(name: str, old: str, new: str, folder: Path) -> Path:
    """Write the solution of ``name`` with ``old`` replaced by ``new`` into folder/name.py."""
    source = (SOLUTIONS / f"{name}.py").read_text()
    assert old in source, f"planted mistake for {name}: {old!r} is not in the solution"
    path = folder / f"{name}.py"
    path.write_text(source.replace(old, new))
    return path


def check(name: str, check_name: str):
    return next(c for c in EXERCISES[name].checks if c.name == check_name)
