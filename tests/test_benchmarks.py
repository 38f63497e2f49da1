"""The benchmarks' own measuring tools report what they claim to measure."""
import sys
from pathlib import Path

import numpy as np

from minidl import Tensor, kernels
from minidl import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _timing import time_alternating  # noqa: E402
from conv_kernels import gemm_runner  # noqa: E402
from kernel_ops import bytes_moved  # noqa: E402
from train_step import registry_times  # noqa: E402


def conv_relu_input_grad():
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 6, 6)), requires_grad=True)
    w = Tensor(np.random.default_rng(1).standard_normal((4, 3, 3, 3)), requires_grad=True)
    F.relu(F.conv2d(x, w, None, 1, 1)).sum().backward()
    return x.grad


def test_registry_times_counts_each_op_a_convolution_calls_and_changes_nothing():
    lookup = kernels.lookup
    with registry_times() as totals:
        timed = conv_relu_input_grad()
    assert kernels.lookup is lookup
    assert set(totals) == {"im2col", "col2im", "relu_forward", "relu_backward"}
    assert all(t > 0 for t in totals.values())
    np.testing.assert_array_equal(timed, conv_relu_input_grad())


def test_bytes_moved_counts_array_arguments_and_every_result():
    a, b = np.zeros((4, 5), np.float32), np.zeros(3, np.float64)
    assert bytes_moved((a, 7, "name"), (a, b)) == 2 * a.nbytes + b.nbytes
    assert bytes_moved((a, b), a) == 2 * a.nbytes + b.nbytes


def test_time_alternating_calls_the_functions_in_turn_and_keeps_each_ones_times():
    calls = []
    medians = time_alternating([lambda: calls.append("a"), lambda: calls.append("b")], repeat=3, warmup=1)
    assert calls == ["a", "b"] * 4
    assert len(medians) == 2 and all(m >= 0 for m in medians)


def test_gemm_runner_multiplies_the_matrices_of_the_layers_forward_product():
    """(F, C*kh*kw) @ (C*kh*kw, N*OH*OW): the product whose FLOPs conv_flops counts."""
    for padding, positions in ((1, 2 * 6 * 6), (0, 2 * 4 * 4)):
        out = gemm_runner((2, 3, 6, 6), (4, 3, 3, 3), padding)()
        assert out.shape == (4, positions) and out.dtype == np.float32
