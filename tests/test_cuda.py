"""minidl.cuda answers "is there a GPU?" the way the rest of minidl decides it, with or without CuPy."""
import numpy as np
import pytest

import minidl
from minidl import Tensor, backend


def test_without_cupy_there_is_no_gpu_and_moving_there_says_why(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", None)
    assert minidl.cuda.is_available() is False
    assert minidl.cuda.device_count() == 0
    minidl.cuda.synchronize()                      # a no-op, not an error, on a CPU-only machine
    with pytest.raises(RuntimeError, match="CuPy or a CUDA GPU is not available"):
        Tensor(np.ones(3)).to("cuda")


def test_agrees_with_the_backend_on_this_machine():
    available = minidl.cuda.is_available()
    assert available is backend.cuda_available()
    assert (minidl.cuda.device_count() > 0) is available


@pytest.mark.gpu
@pytest.mark.skipif(not backend.cuda_available(), reason="needs CuPy and a CUDA GPU (none found)")
def test_a_tensor_goes_to_the_gpu_and_back_unchanged():
    x = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    t = Tensor(x).to("cuda")
    assert t.device == "cuda"
    minidl.cuda.synchronize()
    np.testing.assert_array_equal(t.to("cpu").numpy(), x)
