"""Image files into a model's input, for predict (and classify).

    x, shown = model_input("resnet20", [Path("cat.jpg")], meta=None)   # (1, 3, 32, 32), (1, 32, 32, 3)

Without a run's facts (``meta``, see minidl.cli.weights.run_meta) the image is prepared as the
published weights expect: an RGB architecture gets RGB resized to its side (32 for the CIFAR
ResNets, 224, 299 for Inception-v3) and standardised per channel with ImageNet's mean and std
(minidl.models.normalize); a gray one (lab6, mlp: 28x28; digits-cnn: 8x8) gets gray scaled to
[0, 1] and standardised with its default dataset's training statistics. With a run's facts
(weights from train or finetune), exactly the run's preprocessing (minidl.cli.train.prepare_data):
the dataset's image size and channels, the model's padding or resize, the run's mean and std,
then the per-batch transforms (gray to RGB, the ImageNet models' resize).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..models import normalize
from ..models.zoo import ARCHITECTURES, DEFAULT_IMAGE_SIZE
from .train import input_transform, size_transform

__all__ = ["DATASET_SIDE", "GRAY_STATS", "load_image", "model_input"]

DATASET_SIDE = {"fashion-mnist": 28, "mnist": 28, "digits": 8}      # the datasets' image sides

# the training split's mean and std (to_float pixels): Fashion-MNIST for lab6 and the MLP
GRAY_STATS = {"lab6": (0.2860406, 0.3530242), "mlp": (0.2860406, 0.3530242),
              "digits-cnn": (0.3055329, 0.3759474)}


def load_image(path: Path, side: int | tuple[int, int], gray: bool = False) -> np.ndarray:
    """(H, W, 3) RGB or (H, W) gray float32 in [0, 1], resized to side; OSError/ValueError for
    an unreadable file."""
    from PIL import Image
    height, width = (side, side) if isinstance(side, int) else side
    with Image.open(path) as image:
        image = image.convert("L" if gray else "RGB").resize((width, height), Image.BILINEAR)
        return np.asarray(image, dtype=np.float32) / 255


def model_input(arch: str, paths: list[Path], meta: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(the model's input (N, C, H, W) float32, the images as read (N, H, W[, 3]) for showing)."""
    spec = ARCHITECTURES[arch]
    if meta is not None:                       # the run's own preprocessing
        channels, height, width = meta["image_shape"]           # as prepared: padded, resized
        dataset = meta.get("settings", {}).get("dataset")
        if dataset in DATASET_SIDE:                             # the dataset's own size
            height = width = DATASET_SIDE[dataset]
        shown = np.stack([load_image(p, (height, width), gray=channels == 1) for p in paths])
        x = shown[:, None] if channels == 1 else shown.transpose(0, 3, 1, 2)
        resize = size_transform(arch, width)   # before the statistics, as minidl.data.prepare
        if resize is not None:
            x = resize(x)
        x = ((x - np.float32(meta["normalize"]["mean"])) / np.float32(meta["normalize"]["std"]))
        x = x.astype(np.float32)
        adapt = input_transform(arch, x.shape[1:])
        return (adapt(x) if adapt is not None else x), shown
    side = spec.image_size or DEFAULT_IMAGE_SIZE
    if spec.in_channels == 3:
        shown = np.stack([load_image(p, side) for p in paths])
        return normalize(shown), shown
    mean, std = GRAY_STATS[arch]
    shown = np.stack([load_image(p, side, gray=True) for p in paths])
    return ((shown[:, None] - np.float32(mean)) / np.float32(std)).astype(np.float32), shown
