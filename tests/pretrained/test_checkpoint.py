"""Reading torch.save checkpoints without torch: torch-written fixtures, the real pretrained
files, hand-made strided tensors and storage layouts, formats refused as unsupported, and the
state-dict helper. Safety (malicious pickles, damaged files): test_checkpoint_safety.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.pretrained import (CheckpointError, DictWithAttributes, UnsafeCheckpointError,
                               load_torch_checkpoint, load_torch_state_dict)

from .checkpoint_files import (FIXTURES, LAYOUTS, assert_same, call, dict_op, expected_object,
                               pickle_op, push, real_checkpoint, rebuild, storage_id,
                               strided_tensors, write_legacy, write_tensor_file, write_zip)

# From /work/shared/pretrained/README.md: file, blocks per stage, parameter count, best_prec1.
REAL_CHECKPOINTS = [
    ("resnet20-12fca82f.th", 3, 269_722, 91.78),
    ("resnet32-d509ac18.th", 5, 464_154, 92.78),
    ("resnet44-014dd654.th", 7, 658_586, 93.14),
    ("resnet56-4bfd9763.th", 9, 853_018, 93.62),
]

# ------------------------------------------------------------------------------------------
# The torch-written fixtures
# ------------------------------------------------------------------------------------------

FIXTURE_FILES = [("dtypes", "zip"), ("dtypes", "legacy"), ("views", "zip"), ("views", "legacy"),
                 ("nested", "zip"), ("nested", "legacy"), ("zip_only", "zip")]


@pytest.mark.parametrize("case, fmt", FIXTURE_FILES)
def test_torch_written_fixture_reads_back_exactly(case, fmt):
    """dtypes, strides, offsets, nested containers as torch wrote them."""
    assert_same(load_torch_checkpoint(FIXTURES / f"{case}.{fmt}.pt"), expected_object(case))


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_views_of_one_storage_are_independent_copies(fmt):
    loaded = load_torch_checkpoint(str(FIXTURES / f"views.{fmt}.pt"))  # str paths work too
    base = loaded["base"]
    for name in ("transposed", "slice", "column", "middle"):
        assert not np.shares_memory(base, loaded[name]), name
    loaded["transposed"][0, 0] = -1.0
    assert base[0, 0] == 0.0


def test_module_state_dict_keeps_its_metadata_attribute():
    """torch's state_dict() OrderedDict carries _metadata (module versions): kept, not lost."""
    state = load_torch_checkpoint(FIXTURES / "nested.zip.pt")["state_dict"]
    assert isinstance(state, DictWithAttributes)
    assert "_metadata" in state.attributes and "_metadata" not in state


@pytest.mark.parametrize("case, fmt", [("nested", "zip"), ("nested", "legacy"), ("views", "zip")])
def test_state_dict_helper_returns_plain_name_to_array_dict(case, fmt):
    expected = expected_object(case)
    expected = expected.get("state_dict", expected)
    state = load_torch_state_dict(FIXTURES / f"{case}.{fmt}.pt")
    assert type(state) is dict
    assert_same(state, dict(expected))


# ------------------------------------------------------------------------------------------
# The real pretrained checkpoints (legacy format, written by an old torch)
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, blocks, params, best_prec1", REAL_CHECKPOINTS)
def test_real_pretrained_checkpoint(name, blocks, params, best_prec1):
    checkpoint = load_torch_checkpoint(real_checkpoint(name))
    assert set(checkpoint) == {"best_prec1", "state_dict"}
    assert isinstance(checkpoint["best_prec1"], float)
    assert checkpoint["best_prec1"] == pytest.approx(best_prec1, abs=5e-3)
    state = checkpoint["state_dict"]
    assert all(key.startswith("module.") for key in state)
    assert all(v.dtype == np.float32 and v.flags.c_contiguous for v in state.values())
    learned = sum(v.size for k, v in state.items() if not k.endswith(("running_mean", "running_var")))
    assert learned == params
    assert state["module.conv1.weight"].shape == (16, 3, 3, 3)
    assert state["module.linear.weight"].shape == (10, 64)
    assert state["module.linear.bias"].shape == (10,)
    for stage, width in ((1, 16), (2, 32), (3, 64)):
        assert state[f"module.layer{stage}.{blocks - 1}.conv2.weight"].shape == (width, width, 3, 3)
        assert f"module.layer{stage}.{blocks}.conv1.weight" not in state
    assert np.all(state["module.bn1.running_var"] > 0)
    assert np.all(np.isfinite(np.concatenate([v.ravel() for v in state.values()])))
    assert_same(load_torch_state_dict(real_checkpoint(name)), state)


# ------------------------------------------------------------------------------------------
# Hand-made files: strided tensors, storage views, unsupported formats
# ------------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(tensor=strided_tensors(), layout=st.sampled_from(LAYOUTS))
def test_strided_tensor_gathers_the_right_storage_elements(tmp_path_factory, tensor, layout):
    """Each loaded element equals storage[offset + sum(index * stride)], bit for bit."""
    storage_type, dtype, np_dtype, size, stride, offset, numel, data, index = tensor
    path = write_tensor_file(tmp_path_factory.mktemp("t") / "t.pt", layout, storage_type, dtype,
                              np_dtype, size, stride, offset, numel, data)
    loaded = load_torch_checkpoint(path)["t"]
    itemsize = np.dtype(np_dtype).itemsize
    expected_bits = np.frombuffer(data, dtype=f"V{itemsize}")[index]
    assert loaded.shape == size and loaded.flags.c_contiguous
    assert loaded.dtype == np.dtype(np_dtype).newbyteorder("=")
    assert loaded.astype(np_dtype).view(f"V{itemsize}").tobytes() == expected_bits.tobytes()


@settings(max_examples=25, deadline=None)
@given(tensor=strided_tensors().filter(lambda t: t[8].size > 0), layout=st.sampled_from(LAYOUTS))
def test_tensor_reaching_past_its_storage_is_refused(tmp_path_factory, tensor, layout):
    """A storage one element shorter than the view's last element: CheckpointError, not garbage."""
    storage_type, dtype, np_dtype, size, stride, offset, _, data, index = tensor
    numel = int(index.max())  # the last needed element is missing
    data = data[: numel * np.dtype(np_dtype).itemsize]
    path = write_tensor_file(tmp_path_factory.mktemp("t") / "t.pt", layout, storage_type, dtype,
                              np_dtype, size, stride, offset, numel, data)
    with pytest.raises(CheckpointError, match="needs .* bytes"):
        load_torch_checkpoint(path)


@pytest.mark.parametrize("view", [None, ("8", 3, 5)])
def test_legacy_storage_view_field(tmp_path, view):
    """Legacy persistent ids have a sixth field: None since PyTorch 1.0 (storage views were
    removed in 2018), loaded; a real view, written only by older versions, is refused."""
    data = np.arange(10, dtype="<f4")
    storage = storage_id("FloatStorage", "7", 10, view=view)
    if view is None:  # _storage leaves out a None view: add it as torch >= 1.0 wrote it
        storage = storage[:-2] + push(None) + storage[-2:]
    tensor = rebuild("v1", storage, 1, (2, 2), (1, 2))
    path = write_legacy(tmp_path / "v.pt", pickle_op(dict_op(t=tensor)), [("7", data.tobytes(), 10)])
    if view is None:
        assert_same(load_torch_checkpoint(path)["t"], np.array([[1, 3], [2, 4]], dtype=np.float32))
    else:
        with pytest.raises(CheckpointError, match=r"storage view .*PyTorch < 1\.0") as info:
            load_torch_checkpoint(path)
        assert str(path) in str(info.value)


def _complex_tensor_v2(tmp_path):
    tensor = rebuild("v2", storage_id("ComplexFloatStorage", "0", 1), 0, (1,), (1,))
    return write_zip(tmp_path / "c.pt", pickle_op(dict_op(t=tensor)), {"0": bytes(8)})


def _complex_tensor_v3(tmp_path):
    storage = storage_id("UntypedStorage", "0", 16, module="torch.storage")
    tensor = rebuild("v3", storage, 0, (2,), (1,), "complex64")
    return write_zip(tmp_path / "c.pt", pickle_op(dict_op(t=tensor)), {"0": bytes(16)})


def _with_metadata(tmp_path):
    """A float tensor whose rebuild call carries torch's conj/neg metadata dict."""
    head = (storage_id("FloatStorage", "0", 1), push(0), push((1,)), push((1,)))
    metadata = dict_op(neg=push(True))
    tensor = call("torch._utils", "_rebuild_tensor_v2", *head, push(False),
                   call("collections", "OrderedDict"), metadata)
    return write_zip(tmp_path / "m.pt", pickle_op(dict_op(t=tensor)), {"0": bytes(4)})


def _python_value(value):
    return lambda tmp_path: write_zip(tmp_path / "p.pt", pickle_op(dict_op(x=push(value))), {})


@pytest.mark.parametrize("make, what", [
    (_complex_tensor_v2, "complex tensors"), (_complex_tensor_v3, "complex tensors"),
    (_with_metadata, "metadata"), (_python_value({"a", "b"}), "Python set"),
    (_python_value(frozenset({1})), "Python frozenset"), (_python_value(1 + 2j), "Python complex"),
])
def test_formats_no_cnn_checkpoint_needs_are_refused_clearly(tmp_path, make, what):
    """Complex tensors (with their conj/neg bits) and Python sets/complex numbers: a plain
    CheckpointError naming the file and what it held, not a claim that the file is unsafe."""
    path = make(tmp_path)
    with pytest.raises(CheckpointError, match=what) as info:
        load_torch_checkpoint(path)
    assert not isinstance(info.value, UnsafeCheckpointError)
    assert str(path) in str(info.value)


# ------------------------------------------------------------------------------------------
# load_torch_state_dict refuses to drop entries
# ------------------------------------------------------------------------------------------

def test_state_dict_with_non_tensor_entries_is_refused(tmp_path):
    tensor = rebuild("v2", storage_id("FloatStorage", "0", 1), 0, (1,), (1,))
    body = dict_op(state_dict=dict_op(w=tensor, step=push(3)))
    path = write_zip(tmp_path / "s.pt", pickle_op(body), {"0": bytes(4)})
    with pytest.raises(CheckpointError, match="'step': int"):
        load_torch_state_dict(path)


def test_checkpoint_that_is_not_a_state_dict_is_refused(tmp_path):
    path = write_zip(tmp_path / "e.pt", pickle_op(dict_op(epoch=push(3))), {})
    with pytest.raises(CheckpointError, match="'epoch': int"):
        load_torch_state_dict(path)
    path = write_zip(tmp_path / "l.pt", pickle_op(push([1, 2])), {})
    with pytest.raises(CheckpointError, match="is a list"):
        load_torch_state_dict(path)
