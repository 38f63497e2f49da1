"""minidl.graph and minidl.viz: the graph behind a tensor, as DOT, as a text tree and drawn."""
import shutil

import numpy as np
import pytest

from minidl import Tensor, nn, viz
from minidl.graph import functions_in_forward_order, grad_fn, tensors_in_forward_order


class Scale(nn.Module):
    """y = w * x with one named parameter."""
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(np.array([2.0, -1.0], np.float32))

    def forward(self, x):
        return self.w * x


def small_graph():
    """loss = sum(relu(w * x)) with x a constant input: three ops."""
    model = Scale()
    x = Tensor(np.array([1.0, 3.0], np.float32))
    return model, x, model(x).relu().sum()


def test_the_graph_helpers_walk_tensors_and_ops_in_forward_order():
    model, x, loss = small_graph()
    tensors = tensors_in_forward_order(loss)
    assert tensors[0] is model.w and tensors[1] is x and tensors[-1] is loss
    assert [type(f).__name__ for f in functions_in_forward_order(loss)] == ["Mul", "ReLU", "Sum"]
    assert grad_fn(loss).inputs[0] is tensors[3] and grad_fn(model.w) is None


def test_dot_of_a_known_graph_names_ops_shapes_dtypes_and_the_parameter():
    model, _, loss = small_graph()
    assert viz.to_dot(loss, model) == "\n".join([
        "digraph minidl {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=10];',
        '  t0 [shape=box, label="w (2,) float32", style=filled, fillcolor="#dbe9f6"];',
        '  t1 [shape=box, label="constant (2,) float32"];',
        '  t2 [shape=box, label="(2,) float32"];',
        '  f2 [shape=ellipse, label="Mul"];',
        "  t0 -> f2;",
        "  t1 -> f2;",
        "  f2 -> t2;",
        '  t3 [shape=box, label="(2,) float32"];',
        '  f3 [shape=ellipse, label="ReLU"];',
        "  t2 -> f3;",
        "  f3 -> t3;",
        '  t4 [shape=box, label="() float32"];',
        '  f4 [shape=ellipse, label="Sum"];',
        "  t3 -> f4;",
        "  f4 -> t4;",
        "}", ""])


def test_without_a_module_a_leaf_that_requires_grad_reads_input():
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    dot = viz.to_dot((w * 2).sum())
    assert 't0 [shape=box, label="input (3, 2) float64"];' in dot
    assert '[shape=box, label="constant () float64"]' in dot      # the wrapped number 2
    named = viz.to_dot((w * 2).sum(), {"W1": w})                   # names for hand-made tensors
    assert 't0 [shape=box, label="W1 (3, 2) float64", style=filled, fillcolor="#dbe9f6"];' in named


def test_text_tree_shows_each_op_once_and_gradients_after_backward():
    model, _, loss = small_graph()
    before = viz.to_text(loss, model)
    assert before.splitlines() == [
        "[t4] () float32 <- Sum",
        "  [t3] (2,) float32 <- ReLU",
        "    [t2] (2,) float32 <- Mul",
        "      [t0] w (2,) float32",
        "      [t1] constant (2,) float32"]
    loss.backward(retain_graph=True)
    # d loss / d w = x where w * x > 0 (first element: 2 * 1 > 0), else 0: grad [1, 0], norm 1
    assert "      [t0] w (2,) float32 grad norm 1" in viz.to_text(loss, model).splitlines()


def test_a_tensor_used_twice_is_drawn_once_and_referred_to_after():
    a = Tensor(np.ones(2), requires_grad=True)
    b = a.exp()
    lines = viz.to_text(b * b).splitlines()
    assert lines[1] == "  [t1] (2,) float64 <- Exp" and lines[3] == "  [t1] (see above)"
    assert viz.to_dot(b * b).count("t1 -> f2;") == 2       # both uses are edges


def test_draw_writes_the_text_tree_when_graphviz_is_missing(tmp_path, monkeypatch):
    model, _, loss = small_graph()
    monkeypatch.setenv("PATH", str(tmp_path))              # no dot on this PATH
    path = viz.draw(loss, tmp_path / "graph.svg", model)
    assert path == tmp_path / "graph.txt" and path.read_text() == viz.to_text(loss, model)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (apt-get install graphviz)")
def test_draw_renders_svg_and_png_with_graphviz(tmp_path):
    model, _, loss = small_graph()
    svg = viz.draw(loss, tmp_path / "graph.svg", model).read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert all(word in svg for word in ("Mul", "ReLU", "Sum", "w (2,) float32"))
    png = viz.draw(loss, tmp_path / "graph.png", model).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
