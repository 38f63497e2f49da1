"""The benchmarks' own measuring tools report what they claim to measure."""
import sys
from pathlib import Path

import numpy as np


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _timing import time_alternating  # noqa: E402
from conv_kernels import gemm_runner  # noqa: E402
from graph_memory import functions_in_forward_order, graph_memory, owner  # noqa: E402
from kernel_ops import bytes_moved  # noqa: E402

from minidl import Function, Tensor  # noqa: E402


def test_bytes_moved_counts_array_arguments_and_every_result():
    a, b = np.zeros((4, 5), np.float32), np.zeros(3, np.float64)
    assert bytes_moved((a, 7, "name"), (a, b)) == 2 * a.nbytes + b.nbytes
    assert bytes_moved((a, b), a) == 2 * a.nbytes + b.nbytes


def test_time_alternating_calls_the_functions_in_turn_and_keeps_each_ones_times():
    calls = []
    medians = time_alternating([lambda: calls.append("a"), lambda: calls.append("b")], repeat=3, warmup=1)
    assert calls == ["a", "b"] * 4
    assert len(medians) == 2 and all(m >= 0 for m in medians)


def test_time_alternating_reports_progress_after_each_round():
    rounds = []
    time_alternating([lambda: None], repeat=3, warmup=0, progress=lambda done, total: rounds.append((done, total)))
    assert rounds == [(1, 3), (2, 3), (3, 3)]


def test_gemm_runner_multiplies_the_matrices_of_the_layers_forward_product():
    """(F, C*kh*kw) @ (C*kh*kw, N*OH*OW): the product whose FLOPs conv_flops counts."""
    for padding, positions in ((1, 2 * 6 * 6), (0, 2 * 4 * 4)):
        out = gemm_runner((2, 3, 6, 6), (4, 3, 3, 3), padding)()
        assert out.shape == (4, positions) and out.dtype == np.float32


# Functions whose caches are known exactly, for counting what a graph keeps (graph_memory.py)
class SavesOutputThrice(Function):
    """Saves its output as an attribute, inside a tuple with a view of it, and as a transposed view."""
    def forward(self, x):
        y = x * 2
        self.y, self.again, self.meta = y, (y, [y[::2]]), {"t": y.T}
        return y

    def backward(self, g): return (2 * g,)


class SavesInput(Function):
    def forward(self, x):
        self.x, self.shape = x, x.shape
        return x * x

    def backward(self, g): return (2 * self.x * g,)


class SavesNothing(Function):
    def forward(self, x, y=None):
        return x + 1 if y is None else x + y

    def backward(self, g): return (g, g)


def test_owner_follows_views_to_the_array_that_holds_the_memory():
    y = np.zeros((4, 3), np.float32)
    assert owner(y) is y and owner(y[::2].T) is y and owner(y.reshape(-1)[1:]) is y


def test_graph_memory_counts_each_kept_buffer_once_and_matches_a_hand_count():
    w = Tensor(np.ones((4, 3), np.float32), requires_grad=True)    # a leaf: 48 bytes
    a = SavesOutputThrice.apply(w)     # saves a.data (48 B) three ways: counted once
    b = SavesNothing.apply(a)          # its input a.data is already counted
    c = SavesInput.apply(b)            # saves b.data: 48 B
    d = SavesNothing.apply(c)          # holds c.data as an input, unsaved: 48 B
    e = SavesInput.apply(a)            # saves a.data again: already counted
    root = SavesNothing.apply(d, e)    # holds d.data and e.data: 96 B
    mem = graph_memory(root)
    assert mem["leaves"] == {"arrays": 1, "bytes": 48}
    assert mem["by_op"] == {
        "SavesOutputThrice": {"functions": 1, "saved_arrays": 1, "saved_bytes": 48, "input_arrays": 0, "input_bytes": 0},
        "SavesNothing": {"functions": 3, "saved_arrays": 0, "saved_bytes": 0, "input_arrays": 3, "input_bytes": 144},
        "SavesInput": {"functions": 2, "saved_arrays": 1, "saved_bytes": 48, "input_arrays": 0, "input_bytes": 0}}
    assert mem["total_bytes"] == 240


def test_functions_come_in_forward_order_each_once():
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    a = SavesInput.apply(x)
    b = SavesNothing.apply(a)
    root = SavesNothing.apply(b, a)      # a is reached twice
    order = functions_in_forward_order(root)
    assert order == [a._ctx, b._ctx, root._ctx]
