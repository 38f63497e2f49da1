"""Batch transforms for data augmentation: float arrays (N, C, H, W) in, (N, C', H', W') out.

Every transform is a callable object t(batch, rng) -> new batch; the input is never modified.
Random ones draw one set of parameters per sample from rng (a numpy Generator), all samples at
once, so a seeded rng gives the same augmentations every run. Compose chains them:

    augment = Compose([RandomCrop(28, padding=2), RandomHorizontalFlip(), Normalize(0.286, 0.353)])
    x = augment(x, np.random.default_rng(0))
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..geometry import pair


def _check(batch, who: str, channels: int | None = None) -> np.ndarray:
    """batch as a float (N, C, H, W) array, else a ValueError naming the transform."""
    if (not isinstance(batch, np.ndarray) or batch.ndim != 4
            or not np.issubdtype(batch.dtype, np.floating)):
        shape = getattr(batch, "shape", None)
        raise ValueError(f"{who}: expected a float numpy array (N, C, H, W), got "
                         f"{type(batch).__name__} {getattr(batch, 'dtype', '')} {shape}")
    if channels is not None and batch.shape[1] != channels:
        raise ValueError(f"{who}: expected {channels} channel(s) (N, {channels}, H, W), got "
                         f"shape {batch.shape}")
    return batch


def _need_rng(rng, who: str) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{who}: needs rng, a numpy Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    return rng


def _crop(batch: np.ndarray, top: np.ndarray, left: np.ndarray, h: int, w: int) -> np.ndarray:
    """Per-sample crops: out[i] = batch[i, :, top[i]:top[i]+h, left[i]:left[i]+w]."""
    windows = sliding_window_view(batch, (h, w), axis=(2, 3))  # (N, C, H-h+1, W-w+1, h, w)
    return windows[np.arange(len(batch)), :, top, left]       # (N, C, h, w)


def _random_crop(batch, rng, h, w, padding, fill):
    p = padding
    padded = np.pad(batch, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill) if p else batch
    n, _, ph, pw = padded.shape
    top = rng.integers(0, ph - h + 1, size=n)
    left = rng.integers(0, pw - w + 1, size=n)
    return _crop(padded, top, left, h, w)


def _sample(batch, src_y, src_x, interpolation: str, fill: float) -> np.ndarray:
    """Read batch (N, C, H, W) at float coordinates src_y, src_x (N, Ho, Wo) -> (N, C, Ho, Wo).

    Points outside the image read fill; bilinear mixes the four neighbours, each of which
    may be outside.
    """
    n, c, h, w = batch.shape
    index_n = np.arange(n)[:, None, None]

    def gather(yi, xi):  # (N, Ho, Wo, C), fill where (yi, xi) is outside
        inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
        values = batch[index_n, :, np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
        return np.where(inside[..., None], values, fill)

    if interpolation == "nearest":
        out = gather(np.rint(src_y).astype(np.intp), np.rint(src_x).astype(np.intp))
    else:
        y0, x0 = np.floor(src_y), np.floor(src_x)
        wy, wx = (src_y - y0)[..., None], (src_x - x0)[..., None]
        y0, x0 = y0.astype(np.intp), x0.astype(np.intp)
        out = ((1 - wy) * (1 - wx) * gather(y0, x0) + (1 - wy) * wx * gather(y0, x0 + 1)
               + wy * (1 - wx) * gather(y0 + 1, x0) + wy * wx * gather(y0 + 1, x0 + 1))
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2), dtype=batch.dtype)


def _linear_resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of 1-D linear interpolation with half-pixel centres
    (PyTorch's align_corners=False): output i reads input (i + 0.5) * n_in / n_out - 0.5."""
    src = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    i0 = np.floor(src).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    weights = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(weights, (rows, i0), 1 - frac)
    np.add.at(weights, (rows, i1), frac)
    return weights


class Transform:
    """Base: subclasses define __call__(batch, rng); repr lists the settings."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Compose(Transform):
    """Apply transforms in order, all with the same rng."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, batch, rng=None):
        for t in self.transforms:
            batch = t(batch, rng)
        return batch


class Normalize(Transform):
    """(x - mean) / std per channel; mean and std are scalars or one value per channel."""

    def __init__(self, mean, std):
        self.mean = mean
        self.std = std
        if np.any(np.asarray(std) <= 0):
            raise ValueError(f"Normalize: std must be > 0, got {std!r}")

    def __call__(self, batch, rng=None):
        batch = _check(batch, "Normalize")
        c = batch.shape[1]
        mean = np.asarray(self.mean, dtype=batch.dtype).reshape(-1)
        std = np.asarray(self.std, dtype=batch.dtype).reshape(-1)
        for name, v in (("mean", mean), ("std", std)):
            if len(v) not in (1, c):
                raise ValueError(f"Normalize: {name} has {len(v)} values, batch has {c} channels "
                                 f"(shape {batch.shape})")
        return (batch - mean.reshape(1, -1, 1, 1)) / std.reshape(1, -1, 1, 1)


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability p."""

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, batch, rng):
        batch = _check(batch, "RandomHorizontalFlip")
        flip = _need_rng(rng, "RandomHorizontalFlip").random(len(batch)) < self.p
        return np.where(flip[:, None, None, None], batch[..., ::-1], batch)


class RandomCrop(Transform):
    """Zero-pad each side by padding (with fill), then cut a random size crop per image."""

    def __init__(self, size, padding: int = 0, fill: float = 0.0):
        self.size = pair(size, "size", "RandomCrop", 1)
        self.padding = int(padding)
        self.fill = fill
        if self.padding < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding}")

    def __call__(self, batch, rng):
        batch = _check(batch, "RandomCrop")
        h, w = self.size
        ph, pw = batch.shape[2] + 2 * self.padding, batch.shape[3] + 2 * self.padding
        if h > ph or w > pw:
            raise ValueError(f"RandomCrop: crop {self.size} is larger than the padded image "
                             f"{(ph, pw)} (input shape {batch.shape}, padding {self.padding})")
        return _random_crop(batch, _need_rng(rng, "RandomCrop"), h, w, self.padding, self.fill)


class RandomShift(Transform):
    """Translate each image by whole pixels dy, dx drawn from [-max_shift, max_shift];
    pixels shifted in read fill. Same size out as in."""

    def __init__(self, max_shift: int, fill: float = 0.0):
        self.max_shift = int(max_shift)
        self.fill = fill
        if self.max_shift < 0:
            raise ValueError(f"RandomShift: max_shift must be >= 0, got {max_shift}")

    def __call__(self, batch, rng):
        batch = _check(batch, "RandomShift")
        h, w = batch.shape[2:]
        return _random_crop(batch, _need_rng(rng, "RandomShift"), h, w, self.max_shift, self.fill)


class RandomErasing(Transform):
    """With probability p, set a random rectangle of each image (all channels) to value
    (Zhong et al. 2017; torchvision's RandomErasing): its area a fraction of the image drawn from
    scale, its aspect ratio h/w drawn log-uniformly from ratio. As in torchvision, up to 10
    draws per image until the rectangle fits; an image none of them fits is left as it is."""

    ATTEMPTS = 10

    def __init__(self, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value: float = 0.0):
        if not 0 <= p <= 1:
            raise ValueError(f"RandomErasing: p must be in [0, 1], got {p}")
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"RandomErasing: scale must be (low, high) with 0 < low <= high <= 1, "
                             f"got {scale!r}")
        if len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"RandomErasing: ratio must be (low, high) with 0 < low <= high, "
                             f"got {ratio!r}")
        self.p, self.scale, self.ratio, self.value = p, tuple(scale), tuple(ratio), value

    def __call__(self, batch, rng):
        batch = _check(batch, "RandomErasing")
        rng = _need_rng(rng, "RandomErasing")
        n, _, h, w = batch.shape
        tries = (n, self.ATTEMPTS)
        area = h * w * rng.uniform(*self.scale, size=tries)
        aspect = np.exp(rng.uniform(*np.log(self.ratio), size=tries))
        eh, ew = np.rint(np.sqrt(area * aspect)).astype(int), np.rint(np.sqrt(area / aspect)).astype(int)
        fits = (eh < h) & (ew < w)
        first = fits.argmax(axis=1)                     # the first draw that fits, per image
        rows = np.arange(n)
        eh, ew = eh[rows, first], ew[rows, first]
        erase = (rng.random(n) < self.p) & fits.any(axis=1)
        top = (rng.random(n) * (h - eh + 1)).astype(int)    # uniform in [0, h - eh]
        left = (rng.random(n) * (w - ew + 1)).astype(int)
        ys, xs = np.arange(h), np.arange(w)
        inside = (((ys >= top[:, None]) & (ys < (top + eh)[:, None]))[:, :, None]
                  & ((xs >= left[:, None]) & (xs < (left + ew)[:, None]))[:, None, :])
        mask = (inside & erase[:, None, None])[:, None]      # (N, 1, H, W)
        return np.where(mask, batch.dtype.type(self.value), batch)


class RandomRotation(Transform):
    """Rotate each image about its centre by an angle drawn uniformly from degrees
    ((-d, d) for a number d, or (low, high)); positive turns counter-clockwise.
    interpolation: 'bilinear' or 'nearest'; corners that come from outside read fill."""

    def __init__(self, degrees, interpolation: str = "bilinear", fill: float = 0.0):
        self.degrees = (-abs(degrees), abs(degrees)) if np.isscalar(degrees) else tuple(degrees)
        self.interpolation = interpolation
        self.fill = fill
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"RandomRotation: interpolation must be 'bilinear' or 'nearest', "
                             f"got {interpolation!r}")
        if len(self.degrees) != 2 or self.degrees[0] > self.degrees[1]:
            raise ValueError(f"RandomRotation: degrees must be a number or (low, high) with "
                             f"low <= high, got {degrees!r}")

    def __call__(self, batch, rng):
        batch = _check(batch, "RandomRotation")
        n, _, h, w = batch.shape
        theta = np.deg2rad(_need_rng(rng, "RandomRotation").uniform(*self.degrees, size=n))
        cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
        cy, cx = (h - 1) / 2, (w - 1) / 2
        y, x = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
        # inverse map: the output pixel at (y, x) comes from the input rotated back by theta
        src_x = cos * x - sin * y + cx
        src_y = sin * x + cos * y + cy
        return _sample(batch, src_y, src_x, self.interpolation, self.fill)


class GaussianNoise(Transform):
    """Add independent N(0, std^2) noise to every value."""

    def __init__(self, std: float):
        if std < 0:
            raise ValueError(f"GaussianNoise: std must be >= 0, got {std}")
        self.std = std

    def __call__(self, batch, rng):
        batch = _check(batch, "GaussianNoise")
        noise = _need_rng(rng, "GaussianNoise").standard_normal(batch.shape, dtype=batch.dtype)
        return batch + batch.dtype.type(self.std) * noise


class ColorCast(Transform):
    """Scale each RGB channel of each image by a factor drawn from [1 - strength, 1 + strength]."""

    def __init__(self, strength: float):
        if not 0 <= strength <= 1:
            raise ValueError(f"ColorCast: strength must be in [0, 1], got {strength}")
        self.strength = strength

    def __call__(self, batch, rng):
        batch = _check(batch, "ColorCast", channels=3)
        s = self.strength
        factors = _need_rng(rng, "ColorCast").uniform(1 - s, 1 + s, size=(len(batch), 3, 1, 1))
        return batch * factors.astype(batch.dtype)


class Resize(Transform):
    """Bilinear resize to size (int or (height, width)), PyTorch's align_corners=False."""

    def __init__(self, size):
        self.size = pair(size, "size", "Resize", 1)

    def __call__(self, batch, rng=None):
        batch = _check(batch, "Resize")
        rows = _linear_resize_matrix(batch.shape[2], self.size[0]).astype(batch.dtype)
        cols = _linear_resize_matrix(batch.shape[3], self.size[1]).astype(batch.dtype)
        return rows @ batch @ cols.T  # (Ho, H) @ (N, C, H, W) @ (W, Wo) -> (N, C, Ho, Wo)


class PadTo(Transform):
    """Pad with fill to size (int or (height, width)), keeping the image centred
    (28 -> 32 adds 2 pixels on every side)."""

    def __init__(self, size=32, fill: float = 0.0):
        self.size = pair(size, "size", "PadTo", 1)
        self.fill = fill

    def __call__(self, batch, rng=None):
        batch = _check(batch, "PadTo")
        h, w = batch.shape[2:]
        if h > self.size[0] or w > self.size[1]:
            raise ValueError(f"PadTo: image {(h, w)} is larger than the target {self.size}")
        top, left = (self.size[0] - h) // 2, (self.size[1] - w) // 2
        pad = ((0, 0), (0, 0), (top, self.size[0] - h - top), (left, self.size[1] - w - left))
        return np.pad(batch, pad, constant_values=self.fill)


class GrayToRGB(Transform):
    """(N, 1, H, W) -> (N, 3, H, W) by copying the gray channel, for RGB-pretrained models."""

    def __call__(self, batch, rng=None):
        return np.repeat(_check(batch, "GrayToRGB", channels=1), 3, axis=1)
