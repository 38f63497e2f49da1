"""Converting PyTorch state dicts into minidl models: renaming, dropping, and reporting every key
that is missing, unexpected, duplicated or of the wrong shape; the convert CLI's exit status.

The synthetic tests build the "checkpoint" from a minidl model's own state dict with PyTorch's
decorations added ('module.' prefixes, num_batches_tracked counters); the CLI tests use the real
CIFAR ResNet files ($MINIDL_WEIGHTS or <repo>/../shared/pretrained) and skip without them.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import Tensor, no_grad
from minidl.__main__ import main
from minidl.models import zoo
from minidl.models.resnet_cifar import resnet_cifar
from minidl.pretrained import convert_checkpoint, convert_state_dict, guess_arch

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = Path(os.environ.get("MINIDL_WEIGHTS") or REPO.parent / "shared" / "pretrained")


def _real(file: str) -> Path:
    path = WEIGHTS / file
    if not path.is_file():
        pytest.skip(f"pretrained checkpoint {path} not present (set MINIDL_WEIGHTS to its folder)")
    return path


@pytest.fixture(scope="module")
def source():
    """A seeded resnet20 and its state dict as PyTorch's DataParallel would have saved it."""
    minidl.manual_seed(7)
    model = resnet_cifar(20)
    torch_state = {}
    for key, value in model.state_dict().items():
        torch_state["module." + key] = value
        if key.endswith("running_var"):
            torch_state["module." + key.replace("running_var", "num_batches_tracked")] = np.array(5)
    return model, torch_state


def test_a_dataparallel_checkpoint_converts_and_reproduces_the_model(source):
    model, torch_state = source
    target = resnet_cifar(20)
    state, report = convert_state_dict(torch_state, target)
    assert report.ok and str(report).splitlines()[0].endswith("97 of 97 model entries filled")
    assert len(report.dropped) == 19 and all(k.endswith("num_batches_tracked") for k in report.dropped)
    assert len(report.renamed) == 97 and "'module.' -> ''" in str(report)
    assert list(state) == list(target.state_dict())
    target.load_state_dict(state, strict=True)
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    with no_grad():
        np.testing.assert_array_equal(target.eval()(x).numpy(), model.eval()(x).numpy())


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_report_lists_exactly_what_does_not_fit(source, data):
    """Drop, reshape and invent random keys: the report names exactly those, in model order."""
    model, torch_state = source
    own = list(model.state_dict())
    dropped = data.draw(st.sets(st.sampled_from(own), max_size=4), label="dropped")
    reshaped = data.draw(st.sets(st.sampled_from([k for k in own if k not in dropped]), max_size=3),
                         label="reshaped")
    extras = data.draw(st.sets(st.sampled_from(["head.weight", "layer4.0.conv1.weight", "fc.bias"]),
                               max_size=2), label="extras")
    state = {k: v for k, v in torch_state.items() if k.removeprefix("module.") not in dropped}
    for key in reshaped:
        state["module." + key] = np.zeros(state["module." + key].shape + (1,), np.float32)
    for key in extras:
        state[key] = np.zeros(3, np.float32)
    converted, report = convert_state_dict(state, resnet_cifar(20))
    assert report.missing == [k for k in own if k in dropped]
    assert [k for k, _, _ in report.mismatched] == [k for k in own if k in reshaped]
    for key, model_shape, ckpt_shape in report.mismatched:
        assert ckpt_shape == model_shape + (1,)
    assert sorted(report.unexpected) == sorted(extras)
    assert report.ok == (not dropped and not reshaped and not extras)
    assert set(converted) == set(own) - dropped - reshaped
    text = str(report)
    for key in [*dropped, *extras]:
        assert key in text


def test_renames_duplicates_wrappers_and_dtype(source):
    model, torch_state = source
    # a head called 'fc', a torch.compile wrapper inside DataParallel, float64 arrays
    state = {}
    for key, value in torch_state.items():
        key = key.replace("module.linear.", "module._orig_mod.fc.")
        state[key] = value.astype(np.float64) if value.dtype == np.float32 else value
    converted, report = convert_state_dict(state, resnet_cifar(20))
    assert not report.ok and report.unexpected == ["fc.weight", "fc.bias"]
    converted, report = convert_state_dict(state, resnet_cifar(20), renames={"fc.": "linear."})
    assert report.ok
    assert all(v.dtype == np.float32 for v in converted.values())
    np.testing.assert_array_equal(converted["linear.weight"], torch_state["module.linear.weight"])
    # the same entry twice (with and without the wrapper) is an error, not a silent overwrite
    twice = dict(torch_state, **{"linear.bias": np.ones(10, np.float32)})
    _, report = convert_state_dict(twice, resnet_cifar(20))
    assert report.duplicated == ["linear.bias"] and not report.ok


def test_guess_arch_from_file_names(tmp_path):
    archs = zoo.ARCHITECTURES
    assert guess_arch(tmp_path / "vgg16_bn-6c64b313.pth", archs) == "vgg16_bn"
    assert guess_arch(tmp_path / "vgg16-397923af.pth", archs) == "vgg16"
    assert guess_arch(tmp_path / "resnet18-f37072fd.pth", archs) == "resnet18"
    assert guess_arch(tmp_path / "my_model.pth", archs) is None


# ------------------------------------------------------------------------------------------
# convert_checkpoint and the CLI on the real files
# ------------------------------------------------------------------------------------------

def test_convert_checkpoint_writes_npz_that_loads_strictly(tmp_path):
    path = _real("resnet20-12fca82f.th")
    arch = guess_arch(path, zoo.ARCHITECTURES)                     # arch from the hash
    report = convert_checkpoint(path, tmp_path / "r20.npz", zoo.build_model(arch), name=arch)
    assert report.ok and report.model == "resnet20" and report.saved_to == tmp_path / "r20.npz"
    model = resnet_cifar(20)
    model.load_state_dict(minidl.load(tmp_path / "r20.npz"), strict=True)
    # a renamed copy is recognised by its hash too
    renamed = tmp_path / "weights.th"
    renamed.write_bytes(path.read_bytes())
    assert guess_arch(renamed, zoo.ARCHITECTURES) == "resnet20"


def test_wrong_architecture_is_reported_and_nothing_is_written(tmp_path):
    path = _real("resnet32-d509ac18.th")
    report = convert_checkpoint(path, tmp_path / "out.npz", resnet_cifar(20), name="resnet20")
    assert not report.ok and report.saved_to is None and not (tmp_path / "out.npz").exists()
    # resnet32 has 5 blocks per stage, resnet20 3: blocks 3 and 4 of each stage have no place
    assert not report.missing and not report.mismatched
    assert len(report.unexpected) == 3 * 2 * 10            # 2 blocks x (2 convs + 2 BNs x 4)
    assert "layer1.3.conv1.weight" in report.unexpected and "layer3.4.bn2.running_var" in report.unexpected
    assert "unexpected" in str(report) and "DOES NOT FIT" in str(report)


def test_cli_exit_status(tmp_path, capsys):
    good, other = _real("resnet20-12fca82f.th"), _real("resnet32-d509ac18.th")
    assert main(["convert", str(good), str(tmp_path / "a.npz"), "--arch", "resnet20"]) == 0
    assert "OK" in capsys.readouterr().out and (tmp_path / "a.npz").is_file()

    assert main(["convert", str(other), str(tmp_path / "b.npz"), "--arch", "resnet20"]) == 1
    captured = capsys.readouterr()
    assert "layer1.3.conv1.weight" in captured.out and "does not fit" in captured.err
    assert not (tmp_path / "b.npz").exists()

    assert main(["convert", str(good), str(tmp_path / "c.npz"), "--num-classes", "5"]) == 1
    assert "linear.weight: model (5, 64), checkpoint (10, 64)" in capsys.readouterr().out

    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"definitely not a checkpoint")
    assert main(["convert", str(junk), str(tmp_path / "d.npz"), "--arch", "resnet20"]) == 2
    assert "not a PyTorch checkpoint" in capsys.readouterr().err
    assert main(["convert", str(junk), str(tmp_path / "d.npz")]) == 2   # read before guessing
    assert "cannot read" in capsys.readouterr().err
    for absent in (tmp_path / "absent.th", tmp_path / "empty.th"):
        if absent.name == "empty.th":
            absent.write_bytes(b"")
        assert main(["convert", str(absent), str(tmp_path / "d.npz")]) == 2
        err = capsys.readouterr().err
        assert "cannot read" in err and "architecture" not in err
    unknown = tmp_path / "weights.th"
    unknown.write_bytes(good.read_bytes())
    assert main(["convert", str(unknown), str(tmp_path / "d.npz")]) == 0   # known by its hash
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["convert", str(good), str(tmp_path / "e.npz"), "--rename", "nonsense"])


def test_a_damaged_copy_of_a_known_checkpoint_is_warned_about_and_its_nan_refused(tmp_path, capsys):
    """convert wrote NaN weights from a damaged copy and said OK; pretrained=True refused the
    same file by its hash."""
    good = _real("resnet20-12fca82f.th")
    data = bytearray(good.read_bytes())
    assert data[:2] == b"\x80\x02"                      # legacy: storages end the file, no CRC
    data[-4:] = np.array([np.nan], "<f4").tobytes()      # the last element of the last storage
    damaged = tmp_path / good.name
    damaged.write_bytes(bytes(data))
    assert main(["convert", str(damaged), str(tmp_path / "x.npz"), "--arch", "resnet20"]) == 1
    captured = capsys.readouterr()
    assert "warning" in captured.err and "SHA-256" in captured.err
    assert "holding NaN or infinite values: 1" in captured.out and not (tmp_path / "x.npz").exists()
    assert main(["convert", str(damaged), str(tmp_path / "x.npz"), "--arch", "resnet20",
                 "--allow-nonfinite"]) == 0
    assert "(allowed)" in capsys.readouterr().out and (tmp_path / "x.npz").is_file()
