"""Input adaptation: grayscale 28x28 images (Fashion-MNIST, MNIST) into a network pretrained on
RGB 32x32 images (CIFAR-10).

Three steps, each undoing one mismatch between the target data and what the source network saw:

1. size     28x28 -> 32x32, either by zero-padding 2 pixels on every side ("pad": the object keeps
            its pixel scale) or by bilinear resizing ("resize": it fills the frame as CIFAR's do)
2. colour   1 channel -> 3 identical channels (a gray image is an RGB image with R = G = B)
3. scale    per channel (x - mean) / std with the *source* network's statistics, so the first
            layer sees inputs distributed as in its training (for the CIFAR ResNets: the means
            and stds in minidl.models.resnet_cifar, ImageNet's values)

    loader = DataLoader(train.images, train.labels, 128, shuffle=True, transform=GrayToRGBAdapter())
"""
from __future__ import annotations

import numpy as np

from ..data.transforms import GrayToRGB, Normalize, PadTo, Resize, Transform
from ..models.resnet_cifar import CIFAR10_MEAN, CIFAR10_STD

__all__ = ["GrayToRGBAdapter", "adapt_images"]

METHODS = ("pad", "resize")


class GrayToRGBAdapter(Transform):
    """Grayscale (N, H, W) or (N, 1, H, W) -> normalised RGB float32 (N, 3, size, size).

    uint8 input is scaled to [0, 1] first (float input is taken as already in [0, 1]).
    method  "pad" (zero-pad, centred; needs H, W <= size) or "resize" (bilinear, PyTorch's
            align_corners=False)
    mean, std  the source network's per-channel input statistics (CIFAR-10 ResNets' by default)
    A DataLoader transform: called as t(batch, rng); rng is not used.
    """

    def __init__(self, size=32, method: str = "pad", mean=CIFAR10_MEAN, std=CIFAR10_STD):
        if method not in METHODS:
            raise ValueError(f"GrayToRGBAdapter: method must be one of {METHODS}, got {method!r}")
        self.size, self.method, self.mean, self.std = size, method, tuple(mean), tuple(std)
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, 3):
                raise ValueError(f"GrayToRGBAdapter: {name} needs 1 or 3 values, got {v!r}")
        self._resize = PadTo(size) if method == "pad" else Resize(size)
        self._to_rgb = GrayToRGB()
        self._normalize = Normalize(self.mean, self.std)

    def __call__(self, batch, rng=None) -> np.ndarray:
        x = np.asarray(batch)
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"GrayToRGBAdapter: expected grayscale images (N, H, W) or "
                             f"(N, 1, H, W), got shape {x.shape}")
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / np.float32(255)
        elif x.dtype.kind != "f":
            raise ValueError(f"GrayToRGBAdapter: expected uint8 or float images, got dtype {x.dtype}")
        x = self._resize(x)      # one channel first: a third of the work of resizing RGB
        return self._normalize(self._to_rgb(x)).astype(np.float32, copy=False)

    def __repr__(self) -> str:
        return (f"GrayToRGBAdapter(size={self.size!r}, method={self.method!r}, "
                f"mean={self.mean}, std={self.std})")


def adapt_images(images, method: str = "pad", size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD,
                 batch_size: int = 2048) -> np.ndarray:
    """A whole array of grayscale images adapted at once (in batches, to bound memory):
    (N, H, W) or (N, 1, H, W) -> float32 (N, 3, size, size). See GrayToRGBAdapter."""
    adapter = GrayToRGBAdapter(size, method, mean, std)
    parts = [adapter(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
    if not parts:
        raise ValueError("adapt_images: no images given")
    return np.concatenate(parts)
