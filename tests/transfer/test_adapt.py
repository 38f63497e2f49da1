"""Grayscale 28x28 -> normalised RGB 32x32 for a CIFAR-pretrained network: shapes, channel
replication, padding, bilinear resizing (scikit-image as the oracle) and the source's statistics."""
from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import resize as sk_resize

from minidl.data import DataLoader
from minidl.models.resnet_cifar import CIFAR10_MEAN, CIFAR10_STD
from minidl.transfer import GrayToRGBAdapter, adapt_images

MEAN = np.array(CIFAR10_MEAN, np.float32).reshape(1, 3, 1, 1)
STD = np.array(CIFAR10_STD, np.float32).reshape(1, 3, 1, 1)


def gray(n=5, size=28, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size), dtype=np.uint8)


def unnormalise(out):
    return out * STD + MEAN


@pytest.mark.parametrize("method", ["pad", "resize"])
def test_output_is_normalised_rgb_32x32_with_three_equal_channels(method):
    x = gray()
    out = GrayToRGBAdapter(method=method)(x)
    assert out.shape == (5, 3, 32, 32) and out.dtype == np.float32
    rgb = unnormalise(out)
    np.testing.assert_allclose(rgb[:, 0], rgb[:, 1], atol=1e-5)
    np.testing.assert_allclose(rgb[:, 0], rgb[:, 2], atol=1e-5)
    assert rgb.min() >= -1e-5 and rgb.max() <= 1 + 1e-5


def test_padding_centres_the_image_and_fills_black_normalised():
    x = gray()
    out = GrayToRGBAdapter(method="pad")(x)
    for c in range(3):
        np.testing.assert_allclose(out[:, c, 2:30, 2:30], (x / 255.0 - CIFAR10_MEAN[c]) / CIFAR10_STD[c],
                                   rtol=1e-5, atol=1e-5)
        border = np.ones((32, 32), bool)
        border[2:30, 2:30] = False
        np.testing.assert_allclose(out[:, c][:, border], -CIFAR10_MEAN[c] / CIFAR10_STD[c], rtol=1e-6)


def test_resizing_is_bilinear_like_scikit_image():
    x = gray(3, seed=1)
    out = unnormalise(GrayToRGBAdapter(method="resize")(x))
    for i in range(3):
        theirs = sk_resize(x[i] / 255.0, (32, 32), order=1, mode="edge", anti_aliasing=False)
        np.testing.assert_allclose(out[i, 0], theirs, atol=1e-5)


def test_float_input_in_0_1_matches_uint8_input():
    x = gray(4, seed=2)
    a = GrayToRGBAdapter()(x)
    b = GrayToRGBAdapter()(x[:, None].astype(np.float32) / 255)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_custom_statistics_are_used():
    x = gray(2)
    out = GrayToRGBAdapter(mean=(0.5,), std=(0.25,))(x)
    np.testing.assert_allclose(out[:, 1, 2:30, 2:30], (x / 255.0 - 0.5) / 0.25, atol=1e-5)


def test_works_as_a_dataloader_transform_and_in_bulk():
    x, y = gray(10, seed=3), np.arange(10) % 3
    loader = DataLoader(x, y, batch_size=4, shuffle=True, seed=0, transform=GrayToRGBAdapter())
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(4, 3, 32, 32), (4, 3, 32, 32), (2, 3, 32, 32)]
    whole = adapt_images(x, batch_size=3)            # batch boundaries do not matter
    np.testing.assert_allclose(whole, GrayToRGBAdapter()(x), atol=0)
    order = np.random.default_rng(0).permutation(10)  # the loader's first-epoch order
    np.testing.assert_allclose(batches[0][0], whole[order[:4]], atol=0)


def test_bad_input_is_an_error_naming_the_adapter():
    with pytest.raises(ValueError, match=r"GrayToRGBAdapter: expected grayscale .* got shape \(2, 3, 28, 28\)"):
        GrayToRGBAdapter()(np.zeros((2, 3, 28, 28), np.float32))
    with pytest.raises(ValueError, match="method must be one of"):
        GrayToRGBAdapter(method="crop")
    with pytest.raises(ValueError, match="PadTo"):
        GrayToRGBAdapter(size=24)(gray(1))
