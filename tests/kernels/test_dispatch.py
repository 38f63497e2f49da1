"""The dispatch: which version of an op runs, forcing the reference, status() and timing()."""
import numpy as np
import pytest

from minidl import Tensor, kernels
from minidl import functional as F
from minidl.functional import activation, conv, fused, norm, pool
from minidl.kernels import cpu, cuda

OPS = {"im2col": conv.im2col, "col2im": conv.col2im, "conv2d_forward": conv.conv2d_forward,
       "conv2d_backward": conv.conv2d_backward,
       "max_pool2d_forward": pool.max_pool2d_forward, "max_pool2d_backward": pool.max_pool2d_backward,
       "batch_norm_forward_train": norm.batch_norm_forward_train,
       "batch_norm_forward_eval": norm.batch_norm_forward_eval,
       "batch_norm_backward": norm.batch_norm_backward,
       "relu_forward": activation.relu_forward, "relu_backward": activation.relu_backward,
       "add_relu_forward": activation.add_relu_forward,
       "conv2d_batch_norm_eval": fused.conv2d_batch_norm_eval}
CUDA_OPS = ["col2im", "conv2d_backward", "conv2d_forward", "im2col", "max_pool2d_backward",
            "max_pool2d_forward"]
x = np.zeros((1, 1, 4, 4), np.float32)


@pytest.fixture(autouse=True)
def no_env_override(monkeypatch):
    monkeypatch.delenv("MINIDL_KERNELS", raising=False)


@pytest.mark.parametrize("name", sorted(OPS))
def test_each_op_names_its_versions_as_attributes(name):
    op = OPS[name]
    assert op.name == name and op.reference.__name__ == name
    assert op.reference.__module__ == op.__module__          # the reference sits where the op is
    assert op.cpu is getattr(cpu, name)
    assert op.cuda is (getattr(cuda, name) if name in CUDA_OPS else None)
    assert op.version_for(x) is op.cpu


def test_use_reference_forces_the_reference_and_restores_on_exit():
    im2col = conv.im2col
    with kernels.use_reference():
        assert im2col.version_for(x) is im2col.reference
        with kernels.use_reference(False):
            assert im2col.version_for(x) is cpu.im2col
        assert im2col.version_for(x) is im2col.reference
    assert im2col.version_for(x) is cpu.im2col


@pytest.mark.parametrize("value", ["reference", "NumPy", " off "])
def test_environment_variable_forces_the_reference(monkeypatch, value):
    monkeypatch.setenv("MINIDL_KERNELS", value)
    assert kernels.reference_forced()
    assert conv.col2im.version_for(x) is conv.col2im.reference
    with kernels.use_reference(False):              # an explicit block wins over the variable
        assert conv.col2im.version_for(x) is cpu.col2im


def test_other_environment_values_keep_the_fast_kernels(monkeypatch):
    monkeypatch.setenv("MINIDL_KERNELS", "numba")
    assert conv.col2im.version_for(x) is cpu.col2im


def test_an_op_without_a_version_for_the_device_runs_its_reference():
    op = kernels.Op(lambda a: a + 1)
    assert op.version_for(x) is op.reference
    np.testing.assert_array_equal(op(x), x + 1)
    kernels.OPS.remove(op)


def test_calling_an_op_runs_the_chosen_version():
    calls = []
    op = kernels.Op(lambda a: calls.append("reference") or a, cpu=lambda a: calls.append("cpu") or a)
    op(x)
    with kernels.use_reference():
        op(x)
    assert calls == ["cpu", "reference"]
    kernels.OPS.remove(op)


def test_override_replaces_every_version_inside_the_block_and_nests():
    calls = []

    def mine(*args, **kwargs):
        calls.append("mine")
        return conv.im2col.reference(*args, **kwargs)

    with conv.im2col.override(mine):
        assert conv.im2col.version_for(x) is mine
        with kernels.use_reference():
            F.conv2d(Tensor(np.ones((1, 1, 4, 4))), Tensor(np.ones((1, 1, 3, 3))))
        with conv.im2col.override(conv.im2col.reference):
            assert conv.im2col.version_for(x) is conv.im2col.reference
        assert conv.im2col.version_for(x) is mine
    assert calls == ["mine"] and conv.im2col.version_for(x) is cpu.im2col


def test_status_lists_the_ops_with_a_cpu_version():
    assert kernels.status()["cpu"] == f"ok ({', '.join(sorted(OPS))})"


@pytest.mark.skipif(cuda.UNAVAILABLE is None, reason="CuPy is installed")
def test_without_cupy_cuda_is_unavailable_and_its_kernels_say_so():
    assert kernels.status()["cuda"].startswith("unavailable (CuPy is not installed")
    with pytest.raises(RuntimeError, match="im2col: the CUDA kernels need CuPy"):
        cuda.im2col(x, 2, 2)


@pytest.mark.skipif(cuda.UNAVAILABLE is not None, reason="CuPy is not installed")
def test_with_cupy_the_cuda_kernels_load():
    assert kernels.status()["cuda"] == f"ok ({', '.join(CUDA_OPS)})"


def conv_relu_input_grad():
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 6, 6)), requires_grad=True)
    w = Tensor(np.random.default_rng(1).standard_normal((4, 3, 3, 3)), requires_grad=True)
    F.relu(F.conv2d(x, w, None, 1, 1)).sum().backward()
    return x.grad


@pytest.mark.parametrize("reference", [False, True])
def test_timing_counts_each_op_a_convolution_calls_and_changes_nothing(reference):
    """The reference convolution calls the im2col and col2im ops (im2col again in backward, for
    dL/dW); the fast one runs their kernels directly."""
    with kernels.use_reference(reference):
        with kernels.timing() as seconds:
            timed = conv_relu_input_grad()
        expected = {"conv2d_forward": 1, "conv2d_backward": 1, "relu_forward": 1, "relu_backward": 1}
        assert seconds.calls == (expected | {"im2col": 2, "col2im": 1} if reference else expected)
        assert set(seconds) == set(seconds.calls) and all(t > 0 for t in seconds.values())
        np.testing.assert_array_equal(timed, conv_relu_input_grad())
    with kernels.timing() as outside:
        pass
    assert outside == {} and outside.calls == {}


def test_timing_leaves_out_the_ops_an_op_calls():
    """conv2d_forward calls im2col: its time is its own, the two add up to the whole call."""
    import time
    slow_inner = kernels.Op(lambda a: time.sleep(0.02) or a)
    outer = kernels.Op(lambda a: slow_inner(a))
    start = time.perf_counter()
    with kernels.timing() as seconds:
        outer(x)
    whole = time.perf_counter() - start
    assert seconds["<lambda>"] > 0.02 - 1e-3 and seconds.calls["<lambda>"] == 2
    assert seconds["<lambda>"] <= whole
    kernels.OPS.remove(slow_inner)
    kernels.OPS.remove(outer)


def test_a_fast_version_returning_not_implemented_hands_the_case_to_the_reference():
    """add_relu_forward.cpu takes same-shape pairs only; a broadcast pair runs the reference."""
    a, row = np.array([[-1.0, 2.0], [3.0, -4.0]]), np.array([0.5, 1.0])
    assert cpu.add_relu_forward(a, row) is NotImplemented
    np.testing.assert_array_equal(activation.add_relu_forward(a, row), np.maximum(a + row, 0))
    with kernels.timing() as seconds:
        activation.add_relu_forward(a, row)
    assert seconds.calls == {"add_relu_forward": 1}
