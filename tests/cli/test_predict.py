"""`python -m minidl predict MODEL IMAGE...` end to end on small inputs: several images, top-k
names and probabilities equal to the model's softmax, the figure, a run folder's own classes
and preprocessing, weights found in MINIDL_WEIGHTS, one message for what is missing."""
import json
import re

import numpy as np
import pytest
from PIL import Image

import minidl
from minidl.__main__ import main
from minidl.cli.images import load_image
from minidl.models import normalize
from minidl.models.classes import imagenet_classes
from minidl.models.zoo import build_model
from minidl.pretrained import locate


def random_weights(arch, path, seed=1, **kwargs):
    model = build_model(arch, **kwargs)
    rng = np.random.default_rng(seed)
    state = {k: rng.standard_normal(v.shape).astype(v.dtype) * 0.3 for k, v in model.state_dict().items()}
    state = {k: np.abs(v) + 0.5 if k.endswith("running_var") else v for k, v in state.items()}
    return minidl.save(state, path)


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def model_probs(arch, weights, x, **kwargs):
    model = build_model(arch, **kwargs)
    model.load_state_dict(minidl.load(weights))
    with minidl.no_grad():
        return softmax(model.eval()(minidl.Tensor(x)).numpy())


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for k, shape in enumerate([(40, 52, 3), (30, 30, 3), (64, 48)]):
        paths.append(tmp_path / f"photo{k}.png")
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(paths[-1])
    return paths


def printed_blocks(text):
    """{image name: [(class, percent), ...]} from predict's output."""
    blocks, current = {}, None
    for line in text.splitlines():
        if m := re.fullmatch(r"\S+ on (.+) \(\d+x\d+\):", line):
            current = blocks.setdefault(m.group(1), [])
        elif m := re.fullmatch(r"  (.+?)\s+([\d.]+)%", line):
            current.append((m.group(1), float(m.group(2))))
    return blocks


def test_several_images_get_their_top_classes_and_a_figure(images, tmp_path, capsys):
    weights = random_weights("resnet20", tmp_path / "r20.npz")
    out = tmp_path / "figs" / "pred.png"
    args = ["predict", "resnet20", *map(str, images), "--weights", str(weights), "--top", "3", "--out", str(out)]
    assert main(args) == 0
    blocks = printed_blocks(capsys.readouterr().out)
    probs = model_probs("resnet20", weights, normalize(np.stack([load_image(p, 32) for p in images])))
    from minidl.models import CIFAR10_CLASSES
    for path, p in zip(images, probs):
        top = np.argsort(-p)[:3]
        assert [n for n, _ in blocks[str(path)]] == [CIFAR10_CLASSES[k] for k in top]
        assert np.allclose([s for _, s in blocks[str(path)]], 100 * p[top], atol=0.006)
    with Image.open(out) as fig:
        assert fig.format == "PNG" and fig.size[0] >= 600 and fig.size[1] >= 3 * 100


def test_a_run_folders_weights_bring_its_classes_and_preprocessing(images, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    weights = random_weights("lab6", run / "best.npz", num_classes=3)
    classes = ["cat", "dog", "owl"]
    meta = {"classes": classes, "normalize": {"mean": 0.25, "std": 0.5}, "image_shape": [1, 28, 28],
            "settings": {"dataset": "fashion-mnist"}}
    (run / "history.json").write_text(json.dumps({"meta": meta}))
    assert main(["predict", "lab6", str(images[2]), "--weights", str(weights), "--top", "3",
                 "--out", str(tmp_path / "p.png")]) == 0
    (block,) = printed_blocks(capsys.readouterr().out).values()
    x = (load_image(images[2], 28, gray=True)[None, None] - 0.25) / 0.5
    p = model_probs("lab6", weights, x.astype(np.float32), num_classes=3)[0]
    assert [n for n, _ in block] == [classes[k] for k in np.argsort(-p)]


def test_imagenet_models_find_converted_weights_in_minidl_weights_and_name_imagenet_classes(
        images, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(locate, "SHARED_DIR", tmp_path / "no-shared")
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MINIDL_WEIGHTS", str(tmp_path))
    random_weights("mobilenet_v2", tmp_path / "mobilenet_v2.npz")
    assert main(["predict", "mobilenet_v2", str(images[0]), "--top", "2", "--out", str(tmp_path / "m.png")]) == 0
    (block,) = printed_blocks(capsys.readouterr().out).values()
    assert len(block) == 2 and all(name in imagenet_classes() for name, _ in block)


def test_a_missing_image_or_a_weights_file_of_another_model_is_one_message(images, tmp_path, capsys):
    weights = random_weights("resnet20", tmp_path / "r20.npz")
    assert main(["predict", "resnet20", str(tmp_path / "none.png"), "--weights", str(weights)]) == 2
    assert "none.png" in capsys.readouterr().err
    assert main(["predict", "resnet32", str(images[0]), "--weights", str(weights)]) == 2
    err = capsys.readouterr().err
    assert "does not hold weights for CifarResNet" in err and "Traceback" not in err
