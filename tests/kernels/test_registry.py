"""The kernel registry: which implementation lookup() hands the engine, and status()."""
import importlib.util

import numpy as np
import pytest

from minidl import kernels
from minidl.functional import windows
from minidl.kernels import numba_cpu

CPU_OPS = ["batch_norm_backward", "batch_norm_forward_train", "col2im", "im2col",
           "max_pool2d_backward", "max_pool2d_forward", "relu_backward", "relu_forward"]
x = np.zeros((1, 1, 4, 4), np.float32)


@pytest.fixture(autouse=True)
def no_env_override(monkeypatch):
    monkeypatch.delenv("MINIDL_KERNELS", raising=False)


@pytest.mark.parametrize("op", CPU_OPS)
def test_lookup_returns_the_numba_kernel_for_numpy_arrays(op):
    assert kernels.lookup(op, windows.im2col, like=x) is getattr(numba_cpu, op)
    assert kernels.get(op, "cpu") is getattr(numba_cpu, op)


def test_use_reference_forces_the_reference_and_restores_on_exit():
    with kernels.use_reference():
        assert kernels.lookup("im2col", windows.im2col, like=x) is windows.im2col
        with kernels.use_reference(False):
            assert kernels.lookup("im2col", windows.im2col, like=x) is numba_cpu.im2col
        assert kernels.lookup("im2col", windows.im2col, like=x) is windows.im2col
    assert kernels.lookup("im2col", windows.im2col, like=x) is numba_cpu.im2col


@pytest.mark.parametrize("value", ["reference", "NumPy", " off "])
def test_environment_variable_forces_the_reference(monkeypatch, value):
    monkeypatch.setenv("MINIDL_KERNELS", value)
    assert kernels.reference_forced()
    assert kernels.lookup("col2im", windows.col2im, like=x) is windows.col2im


def test_other_environment_values_keep_the_fast_kernels(monkeypatch):
    monkeypatch.setenv("MINIDL_KERNELS", "numba")
    assert kernels.lookup("col2im", windows.col2im, like=x) is numba_cpu.col2im


def test_an_op_without_a_kernel_gets_its_reference():
    def reference(a):
        return a
    assert kernels.lookup("no_such_op", reference, like=x) is reference


def test_status_lists_the_cpu_ops():
    assert kernels.status()["cpu"] == f"ok ({', '.join(CPU_OPS)})"


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed")
def test_without_cupy_cuda_is_unavailable_and_cupy_like_arrays_get_the_reference():
    assert kernels.status()["cuda"].startswith("unavailable (")
    assert "cupy" in kernels.status()["cuda"]
    fake = type("ndarray", (), {"__module__": "cupy._core.core"})()  # what lookup sees of CuPy
    assert kernels.lookup("im2col", windows.im2col, like=fake) is windows.im2col
    assert kernels.get("im2col", "cuda") is None


@pytest.mark.skipif(importlib.util.find_spec("cupy") is None, reason="CuPy is not installed")
def test_with_cupy_the_cuda_kernels_load():
    assert kernels.status()["cuda"] == (
        "ok (col2im, im2col, max_pool2d_backward, max_pool2d_forward)")


def test_register_rejects_an_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        kernels.register("im2col", "tpu")
