"""The README's "Pretrained models: convert -> load -> predict" examples run as printed: the
five lines on a torchvision-style DenseNet-121 checkpoint (random weights under the published
file's legacy key names, as .safetensors instead of .pth), the predict command in its comment,
and the ONNX lines (at 64x64 instead of 224x224, to stay quick)."""
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import minidl
from minidl.__main__ import main
from minidl.models import densenet121

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## Pretrained models: convert -> load -> predict"):]
BLOCKS = re.findall(r"```python\n(.*?)```", SECTION.split("\n## ")[0], re.S)


def test_convert_load_predict_in_five_lines(tmp_path, monkeypatch, capsys):
    pytest.importorskip("safetensors", reason="the stand-in checkpoint is a .safetensors file")
    pytest.importorskip("onnxruntime", reason="the ONNX lines need the onnx extra")
    five, onnx_lines = BLOCKS
    assert len(five.strip().splitlines()) == 5
    rng = np.random.default_rng(0)
    state = {k: (rng.uniform(0.5, 1.5, v.shape) if k.endswith("running_var")
                 else rng.standard_normal(v.shape) * 0.1).astype(np.float32)
             for k, v in densenet121().state_dict().items()}
    legacy = {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): v for k, v in state.items()}
    assert any(".norm.1." in k for k in legacy)
    minidl.save(legacy, tmp_path / "densenet121-a639ec97.safetensors")
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(five.replace("densenet121-a639ec97.pth", "densenet121-a639ec97.safetensors"), scope)
    report = capsys.readouterr().out
    assert "conversion into DenseNet: OK" in report and len(report.splitlines()[1]) < 300
    np.testing.assert_array_equal(scope["model"].state_dict()["classifier.weight"], state["classifier.weight"])

    command = re.search(r"# python -m minidl (predict .*)", five).group(1).split()
    for name in ("cat.jpg", "dog.jpg"):
        Image.fromarray(rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)).save(tmp_path / name)
    assert main(command) == 0 and (tmp_path / "pred.png").is_file()
    assert len(re.findall(r"^  \S.* \d+\.\d\d%$", capsys.readouterr().out, flags=re.M)) == 2 * 5

    images = rng.standard_normal((3, 3, 64, 64)).astype(np.float32)
    exec(onnx_lines.replace("224, 224", "64, 64"), {"model": scope["model"], "images": images})
    with minidl.no_grad():
        expected = scope["model"](minidl.Tensor(images)).numpy()
    got = minidl.onnx.run(tmp_path / "densenet121.onnx", images)
    assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()
