"""The benchmarks' own measuring tools report what they claim to measure."""
import sys
from pathlib import Path

import numpy as np


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _timing import time_alternating  # noqa: E402
from conv_kernels import gemm_runner  # noqa: E402
from kernel_ops import bytes_moved  # noqa: E402


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
