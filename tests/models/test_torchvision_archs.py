"""GoogLeNet, Inception-v3, MobileNet-V2 and DenseNet-121 against torchvision's recorded
parameter counts and state-dict keys/shapes (tests/models/fixtures, made by
make_torchvision_fixtures.py, which also checked equal logits once), and their building blocks
on small inputs. The full-size models are only built here, never run."""
import json
from pathlib import Path

import numpy as np
import pytest

from minidl import Tensor, no_grad, nn
from minidl.models import zoo
from minidl.models.densenet import DenseBlock, rename_legacy_keys
from minidl.models.googlenet import transform_input
from minidl.models.inception_v3 import InceptionAux3
from minidl.models.mobilenet_v2 import InvertedResidual, ReLU6
from minidl.pretrained import convert_state_dict

FIXTURES = Path(__file__).parent / "fixtures"
ARCHS = ("googlenet", "inception_v3", "mobilenet_v2", "densenet121")
BUILD_ARGS = {"googlenet": {"transform_input": True}, "inception_v3": {"transform_input": True}}


def fixture(arch):
    return json.loads((FIXTURES / f"torchvision_{arch}.json").read_text())


def build(arch, **kwargs):
    from minidl import models
    return getattr(models, arch)(**kwargs)


def rng_images(n, size, seed=0):
    return Tensor(np.random.default_rng(seed).standard_normal((n, 3, size, size)).astype(np.float32))


@pytest.mark.parametrize("arch", ARCHS)
def test_parameter_count_and_state_dict_match_torchvision(arch):
    recorded = fixture(arch)
    model = build(arch)
    assert model.num_parameters() == recorded["num_parameters"]
    torch_entries = {k: tuple(s) for k, s in recorded["state_dict"]
                     if not k.endswith("num_batches_tracked")}
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == torch_entries


@pytest.mark.parametrize("arch", ["googlenet", "inception_v3"])
def test_without_auxiliary_heads_the_count_is_torchvisions_too(arch):
    recorded = fixture(arch)
    model = build(arch, aux_logits=False)
    assert model.num_parameters() == recorded["num_parameters_without_aux"]
    assert not any(k.startswith(("aux1.", "aux2.", "AuxLogits.")) for k in model.state_dict())


@pytest.mark.parametrize("arch", ARCHS)
def test_a_checkpoint_of_torchvisions_layout_converts_and_loads_strictly(arch):
    """Arrays of the recorded shapes (counters included, as torch.save writes them) fill every
    entry of the model: nothing missing, unexpected or of the wrong shape."""
    rng = np.random.default_rng(1)
    state = {k: rng.standard_normal(s).astype(np.float32) for k, s in fixture(arch)["state_dict"]}
    model = build(arch, **BUILD_ARGS.get(arch, {}))
    converted, report = convert_state_dict(state, model)
    assert report.ok, str(report)
    model.load_state_dict(converted, strict=True)
    key = next(iter(converted))
    np.testing.assert_array_equal(model.state_dict()[key], state[key])


@pytest.mark.parametrize("arch", ARCHS)
def test_the_zoo_registers_the_architecture_with_its_input(arch):
    spec = zoo.ARCHITECTURES[arch]
    assert (spec.num_classes, spec.in_channels) == (1000, 3)
    assert spec.image_size == fixture(arch)["input_size"]


@pytest.mark.parametrize("arch, size", [("googlenet", 32), ("inception_v3", 75),
                                        ("mobilenet_v2", 32), ("densenet121", 32)])
def test_small_inputs_classify_and_train_mode_gives_gradients(arch, size):
    model = build(arch, num_classes=5)
    x = rng_images(2, size)
    with no_grad():
        logits = model.eval()(x)
        alone = model(Tensor(x.data[:1]))      # eval logits do not depend on the batch
    assert logits.shape == (2, 5) and np.isfinite(logits.data).all()
    np.testing.assert_allclose(alone.data, logits.data[:1], rtol=1e-4, atol=1e-5)
    model.train()
    out = model(x)
    out.sum().backward()
    first = next(iter(model.parameters()))
    assert first.grad is not None and np.abs(first.grad).sum() > 0


def test_googlenet_auxiliary_logits_come_only_in_training_mode():
    model = build("googlenet", num_classes=4)
    logits, aux2, aux1 = model.train().forward_aux(rng_images(2, 32))
    assert logits.shape == aux2.shape == aux1.shape == (2, 4)
    assert model.eval().forward_aux(rng_images(2, 32))[1:] == (None, None)


def test_inception_v3_auxiliary_head_reads_the_17x17_map():
    head = InceptionAux3(768, 6)
    assert head(Tensor(np.ones((2, 768, 17, 17), np.float32))).shape == (2, 6)


def test_transform_input_rescales_imagenet_normalised_images_to_half_scale():
    x01 = np.random.default_rng(2).random((2, 3, 5, 5)).astype(np.float32)
    mean = np.float32([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
    std = np.float32([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
    out = transform_input(Tensor((x01 - mean) / std))
    np.testing.assert_allclose(out.data, (x01 - 0.5) / 0.5, atol=1e-5)


def test_inverted_residual_adds_its_input_only_when_the_shape_is_kept():
    x = rng_images(2, 8).data.repeat(4, axis=1)[:, :8]       # 8 channels
    kept = InvertedResidual(8, 8, 1, 6)
    for p in kept.conv[-1].parameters():                      # the last BN outputs 0
        p.data[...] = 0
    np.testing.assert_array_equal(kept.eval()(Tensor(x)).data, x)
    assert not InvertedResidual(8, 8, 2, 6).use_res_connect
    assert not InvertedResidual(8, 16, 1, 6).use_res_connect
    depthwise = kept.conv[1][0]
    assert depthwise.groups == depthwise.in_channels == 48 and depthwise.weight.shape == (48, 1, 3, 3)


def test_relu6_clips_to_zero_and_six():
    out = ReLU6()(Tensor(np.float32([-3, 0.5, 6.5, 4])))
    np.testing.assert_array_equal(out.data, np.float32([0, 0.5, 6, 4]))


def test_a_dense_block_concatenates_its_input_and_every_layers_output():
    block = DenseBlock(num_layers=3, num_input_features=5, bn_size=2, growth_rate=4).eval()
    x = rng_images(2, 6).data[:, :3].repeat(2, axis=1)[:, :5]
    with no_grad():
        out = block(Tensor(x)).data
        first = block.denselayer1(Tensor(x)).data
    assert out.shape == (2, 5 + 3 * 4, 6, 6)
    np.testing.assert_array_equal(out[:, :5], x)
    np.testing.assert_array_equal(out[:, 5:9], first)
    assert block.denselayer3.conv1.in_channels == 5 + 2 * 4


def test_densenets_legacy_checkpoint_names_are_renamed_to_torchvisions():
    # the published file predates BatchNorm's num_batches_tracked counters
    keys = [k for k, _ in fixture("densenet121")["state_dict"] if not k.endswith("num_batches_tracked")]
    legacy = {k.replace("norm1.", "norm.1.").replace("conv2.", "conv.2.") if "denselayer" in k else k: i
              for i, k in enumerate(keys)}
    assert sum("norm.1." in k for k in legacy) == 58 * 4      # 58 dense layers
    renamed = rename_legacy_keys(legacy)
    assert list(renamed) == keys and list(renamed.values()) == list(range(len(keys)))


def test_the_full_models_are_modules_with_linear_heads_of_the_class_count():
    for arch in ARCHS:
        heads = [m for m in build(arch, num_classes=3).modules() if isinstance(m, nn.Linear)]
        assert heads[-1].out_features == 3, arch
