"""minidl.onnx.export: the lab CNN and zoo models written as ONNX, checked by onnx.checker and run
in onnxruntime on a batch of another size than the traced one, logits equal to minidl's.

Tolerance: float32 throughout, the two engines summing in different orders: max |difference|
<= 1e-5 times the largest |logit| (measured: 2e-7 to 9e-7 of it on these models).
"""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX export needs the onnx extra: pip install 'minidl[onnx]'")
pytest.importorskip("onnxruntime", reason="checking exports needs onnxruntime (the onnx extra)")

import minidl  # noqa: E402
import minidl.onnx  # noqa: E402
from minidl import functional as F, nn  # noqa: E402
from minidl.models.zoo import build_model  # noqa: E402

RTOL = 1e-5


def with_statistics(model, seed=0):
    """Random running statistics, so batch norm's export is not an identity in disguise."""
    rng = np.random.default_rng(seed)
    for name, b in model.named_buffers():
        if name.endswith("running_mean"):
            b[...] = rng.normal(0, 0.2, b.shape)
        elif name.endswith("running_var"):
            b[...] = rng.uniform(0.5, 1.5, b.shape)
    return model.eval()


def minidl_logits(model, x):
    with minidl.no_grad():
        return model(minidl.Tensor(x)).numpy()


def assert_same_logits(model, shape, tmp_path, seed=0):
    rng = np.random.default_rng(seed)
    path = minidl.onnx.export(model, rng.standard_normal((2, *shape)).astype(np.float32),
                              tmp_path / "model.onnx")
    onnx.checker.check_model(onnx.load(path), full_check=True)
    x = rng.standard_normal((3, *shape)).astype(np.float32)     # another batch size than traced
    expected, got = minidl_logits(model, x), minidl.onnx.run(path, x)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= RTOL * np.abs(expected).max()
    return path


@pytest.mark.parametrize("arch, shape", [
    ("lab6", (1, 28, 28)), ("resnet20", (3, 32, 32)), ("mobilenet_v2", (3, 64, 64)),
    ("resnet18", (3, 64, 64)), ("googlenet", (3, 64, 64)), ("densenet121", (3, 32, 32)),
    ("inception_v3", (3, 80, 80)),
])
def test_zoo_models_run_in_onnxruntime_with_minidls_logits(arch, shape, tmp_path):
    minidl.manual_seed(0)
    assert_same_logits(with_statistics(build_model(arch)), shape, tmp_path)


def test_parameters_are_initializers_under_their_state_dict_names(tmp_path):
    model = with_statistics(build_model("lab6"))
    path = assert_same_logits(model, (1, 28, 28), tmp_path)
    graph = onnx.load(path).graph
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    state = model.state_dict()
    for key in ("features.0.weight", "features.1.running_var", "classifier.bias"):
        np.testing.assert_array_equal(inits[key], state[key])
    np.testing.assert_array_equal(inits["classifier.weight.T"], state["classifier.weight"].T)
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert [n.op_type for n in graph.node] == ["Conv", "BatchNormalization", "Relu", "MaxPool"] * 2 + [
        "Reshape", "MatMul", "Add"]


class KitchenSink(nn.Module):
    """The ops and options the zoo does not reach: 'same' padding with an even kernel, dilation,
    ceil-mode and dilated max-pooling, average pooling without the padding in its count,
    adaptive pooling that does not divide, slicing with steps and ints, stacking, activations."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 4, padding="same", bias=False)
        self.dilated = nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=2)
        self.bn = nn.BatchNorm2d(4, affine=False)
        self.fc = nn.Linear(4 * 3 * 3 + 4, 5)

    def forward(self, x):
        y = F.leaky_relu(self.bn(self.dilated(self.conv(x))), 0.1)
        y = F.max_pool2d(y, 3, stride=2, padding=1, ceil_mode=True)
        y = F.max_pool2d(y, 2, stride=1, dilation=2) * F.sigmoid(y[:, :, 1:-1:1, ::1][..., 1:-1])
        y = F.avg_pool2d(y, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        y = F.adaptive_avg_pool2d(F.pad(y, ((0, 0), (0, 0), (0, 2), (1, 0))), 3)
        corner = F.stack([y[:, c, 0, 0] for c in range(4)], dim=1)          # (N, 4)
        z = F.cat([F.flatten(y, 1), F.tanh(corner) ** 2], dim=1)
        return F.log_softmax(F.clip(self.fc(z), -0.5, None) - 2.0 * z[:, :5], dim=1)


def test_every_op_and_option_outside_the_zoo_matches(tmp_path):
    minidl.manual_seed(1)
    assert_same_logits(with_statistics(KitchenSink()), (3, 17, 15), tmp_path)


def test_an_op_without_a_conversion_is_named(tmp_path):
    class Spread(nn.Module):
        def forward(self, x):
            return x.var(axis=1)
    with pytest.raises(minidl.onnx.ONNXExportError, match=r"op 'Var'.*no ONNX conversion; supported: "):
        minidl.onnx.export(Spread(), np.zeros((2, 3), np.float32), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_dropout_is_no_op_in_eval_and_refused_in_training(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5)).eval()
    assert_same_logits(model, (4,), tmp_path)
    assert [n.op_type for n in onnx.load(tmp_path / "model.onnx").graph.node] == ["MatMul", "Add"]

    class AlwaysDrops(nn.Module):
        def forward(self, x):
            return F.dropout(x, 0.5, training=True)
    with pytest.raises(minidl.onnx.ONNXExportError, match="Dropout in training mode"):
        minidl.onnx.export(AlwaysDrops(), np.ones((2, 3), np.float32), tmp_path / "d.onnx")


def test_export_leaves_the_training_flag_as_it_was(tmp_path):
    model = build_model("lab6").train()
    minidl.onnx.export(model, np.zeros((2, 1, 28, 28), np.float32), tmp_path / "m.onnx")
    assert model.training and all(m.training for m in model.modules())


def test_an_op_across_the_batch_fixes_the_batch_size_with_a_warning(tmp_path):
    class Whole(nn.Module):
        def forward(self, x):
            return F.flatten(x, 0) * 2.0
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with pytest.warns(UserWarning, match=r"keeps the traced batch size 2: Reshape \(2, 3\) -> \(6,\)"):
        path = minidl.onnx.export(Whole(), x, tmp_path / "w.onnx")
    np.testing.assert_array_equal(minidl.onnx.run(path, x), x.ravel() * 2)
    assert onnx.load(path).graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2


def test_weights_round_trip_through_safetensors_and_onnx_with_equal_logits(tmp_path):
    pytest.importorskip("safetensors", reason="the safetensors extra is not installed")
    from minidl.pretrained import load_weights
    original = with_statistics(build_model("resnet20"), seed=3)
    rng = np.random.default_rng(3)
    original.load_state_dict({k: (v + rng.normal(0, 0.05, v.shape)).astype(v.dtype)
                              for k, v in original.state_dict().items()})
    minidl.save(original.state_dict(), tmp_path / "r20.safetensors")
    restored = load_weights(build_model("resnet20"), tmp_path / "r20.safetensors").eval()
    x = rng.standard_normal((4, 3, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(minidl_logits(restored, x), minidl_logits(original, x))
    path = minidl.onnx.export(restored, x[:2], tmp_path / "r20.onnx")
    expected = minidl_logits(original, x)
    assert np.abs(minidl.onnx.run(path, x) - expected).max() <= RTOL * np.abs(expected).max()
