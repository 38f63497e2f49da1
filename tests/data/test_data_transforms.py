"""Batch transforms: shapes, seeded reproducibility, identities, and independent oracles
(np.rot90, scikit-image's rotate and resize, brute-force crop search)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.transform import resize as sk_resize
from skimage.transform import rotate as sk_rotate

from minidl.data.transforms import (
    ColorCast,
    Compose,
    GaussianNoise,
    GrayToRGB,
    Normalize,
    PadTo,
    RandomCrop,
    RandomErasing,
    RandomHorizontalFlip,
    RandomRotation,
    RandomShift,
    Resize,
)

RANDOM_TRANSFORMS = [RandomHorizontalFlip(0.5), RandomShift(2), RandomRotation(15),
                     RandomRotation(10, "nearest"), GaussianNoise(0.1), RandomCrop(14, 1),
                     RandomErasing()]


def batch(n=4, c=1, h=6, w=6, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(dtype)


def rng(seed=0):
    return np.random.default_rng(seed)


shapes = st.tuples(st.integers(1, 5), st.integers(1, 3), st.integers(6, 10), st.integers(6, 10))


@settings(max_examples=25, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**31), dtype=st.sampled_from([np.float32, np.float64]))
def test_shapes_dtypes_and_input_untouched(shape, seed, dtype):
    x = batch(*shape, seed=seed, dtype=dtype)
    original = x.copy()
    n, c, h, w = shape
    cases = [(RandomHorizontalFlip(), shape), (RandomShift(2), shape), (RandomRotation(20), shape),
             (RandomRotation(20, "nearest"), shape), (GaussianNoise(0.3), shape),
             (RandomCrop(5, padding=2), (n, c, 5, 5)), (Normalize(0.5, 0.25), shape),
             (Resize((7, 9)), (n, c, 7, 9)), (PadTo(12), (n, c, 12, 12)),
             (RandomErasing(0.7), shape)]
    if c == 3:
        cases.append((ColorCast(0.2), shape))
    if c == 1:
        cases.append((GrayToRGB(), (n, 3, h, w)))
    for t in cases:
        out = t[0](x, rng(seed))
        assert out.shape == t[1], t[0]
        assert out.dtype == dtype, t[0]
        assert np.array_equal(x, original), f"{t[0]} modified its input"


@pytest.mark.parametrize("t", RANDOM_TRANSFORMS + [ColorCast(0.3)], ids=repr)
def test_same_seed_same_result_other_seed_other_result(t):
    x = batch(n=16, c=3 if isinstance(t, ColorCast) else 1, h=16, w=16, seed=1)
    a, b, c = t(x, rng(5)), t(x, rng(5)), t(x, rng(6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_flip_twice_is_identity_and_flip_mirrors():
    x = batch()
    flip = RandomHorizontalFlip(p=1.0)
    assert np.array_equal(flip(x, rng()), x[..., ::-1])
    assert np.array_equal(flip(flip(x, rng(1)), rng(2)), x)
    assert np.array_equal(RandomHorizontalFlip(p=0.0)(x, rng()), x)


def test_flip_is_per_sample():
    x = batch(n=64)
    out = RandomHorizontalFlip(0.5)(x, rng(3))
    flipped = np.array([np.array_equal(o, s[..., ::-1]) for o, s in zip(out, x)])
    kept = np.array([np.array_equal(o, s) for o, s in zip(out, x)])
    assert np.all(flipped ^ kept)
    assert 16 < flipped.sum() < 48


@pytest.mark.parametrize("t", [RandomShift(0), GaussianNoise(0.0), RandomRotation(0),
                               RandomRotation(0, "nearest"), RandomCrop(6), Resize(6),
                               PadTo(6), Normalize(0.0, 1.0)], ids=repr)
def test_zero_strength_is_identity(t):
    x = batch()
    assert np.array_equal(t(x, rng()), x)


def test_zero_color_cast_is_identity():
    x = batch(c=3)
    assert np.array_equal(ColorCast(0.0)(x, rng()), x)


def find_offsets(out, padded, h, w):
    """Brute force: every (top, left) whose window of padded equals out."""
    return [(i, j) for i in range(padded.shape[1] - h + 1) for j in range(padded.shape[2] - w + 1)
            if np.array_equal(padded[:, i:i + h, j:j + w], out)]


def test_random_crop_takes_windows_of_the_padded_image_at_every_offset():
    x = batch(n=200, c=2, h=5, w=5, seed=4) + 1.0  # > 0, so zero padding is recognisable
    out = RandomCrop(4, padding=1)(x, rng(7))
    seen = set()
    for o, s in zip(out, x):
        padded = np.pad(s, ((0, 0), (1, 1), (1, 1)))
        offsets = find_offsets(o, padded, 4, 4)
        assert len(offsets) == 1
        seen.add(offsets[0])
    assert seen == {(i, j) for i in range(4) for j in range(4)}


def test_random_crop_fill_value():
    out = RandomCrop(8, padding=1, fill=-1.0)(batch(h=6, w=6) + 1.0, rng())
    assert np.all(out[:, :, 0, :] == -1.0) and np.all(out[:, :, :, 0] == -1.0)


def test_random_shift_moves_by_at_most_max_shift_with_zero_fill():
    x = batch(n=100, h=7, w=7, seed=2) + 1.0
    out = RandomShift(2)(x, rng(9))
    seen = set()
    for o, s in zip(out, x):
        matches = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                shifted = np.zeros_like(s)
                ys, xs = slice(max(dy, 0), 7 + min(dy, 0)), slice(max(dx, 0), 7 + min(dx, 0))
                yd, xd = slice(max(-dy, 0), 7 + min(-dy, 0)), slice(max(-dx, 0), 7 + min(-dx, 0))
                shifted[:, ys, xs] = s[:, yd, xd]
                if np.array_equal(o, shifted):
                    matches.append((dy, dx))
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 15  # of the 25 possible shifts


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("size", [5, 6])
def test_rotation_by_90_degrees_matches_rot90(interpolation, size):
    x = batch(n=3, c=2, h=size, w=size)
    out = RandomRotation((90, 90), interpolation)(x, rng())
    np.testing.assert_allclose(out, np.rot90(x, 1, axes=(2, 3)), atol=1e-6)
    out = RandomRotation((-90, -90), interpolation)(x, rng())
    np.testing.assert_allclose(out, np.rot90(x, -1, axes=(2, 3)), atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(angle=st.floats(-30, 30), h=st.integers(5, 12), w=st.integers(5, 12))
def test_bilinear_rotation_matches_scikit_image(angle, h, w):
    image = np.random.default_rng(0).random((h, w))
    ours = RandomRotation((angle, angle))(image[None, None], rng())[0, 0]
    theirs = sk_rotate(image, angle, order=1, mode="constant", cval=0.0, clip=False)
    np.testing.assert_allclose(ours, theirs, atol=1e-9)


def test_rotation_keeps_a_constant_image_constant_when_fill_matches():
    x = np.full((4, 1, 9, 9), 0.7)
    np.testing.assert_allclose(RandomRotation(25, fill=0.7)(x, rng()), 0.7, atol=1e-12)


def test_rotation_angles_are_drawn_per_sample():
    x = np.repeat(batch(n=1, h=9, w=9), 8, axis=0)
    out = RandomRotation(20)(x, rng(1))
    assert len({o.tobytes() for o in out}) == 8


def test_gaussian_noise_statistics():
    x = np.zeros((64, 1, 16, 16), dtype=np.float64)
    noise = GaussianNoise(0.5)(x, rng(2))
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - 0.5) < 0.02


def test_color_cast_scales_each_channel_of_each_image_by_one_factor():
    x = batch(n=32, c=3, seed=3) + 0.5
    out = ColorCast(0.2)(x, rng(4))
    ratio = (out / x).reshape(32, 3, -1)
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[..., :1], ratio.shape), rtol=1e-5)
    assert ratio.min() >= 0.8 - 1e-6 and ratio.max() <= 1.2 + 1e-6
    assert np.ptp(ratio[:, :, 0]) > 0.2  # factors really vary


def test_color_cast_needs_rgb():
    with pytest.raises(ValueError, match=r"ColorCast: expected 3 channel\(s\).*\(4, 1, 6, 6\)"):
        ColorCast(0.1)(batch(), rng())


def test_normalize_with_batch_statistics_gives_zero_mean_unit_std():
    x = batch(n=50, c=3, seed=5, dtype=np.float64) * [[[[1.0]], [[3.0]], [[0.2]]]] + 2.0
    mean, std = x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3))
    out = Normalize(list(mean), list(std))(x)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1.0, rtol=1e-12)


def test_normalize_scalar_applies_to_every_channel():
    x = batch(c=2)
    np.testing.assert_allclose(Normalize(0.5, 0.25)(x), (x - 0.5) * 4, rtol=1e-6)


def test_normalize_errors():
    with pytest.raises(ValueError, match="mean has 2 values, batch has 3 channels"):
        Normalize([0.1, 0.2], 1.0)(batch(c=3))
    with pytest.raises(ValueError, match="std must be > 0"):
        Normalize(0.0, [1.0, 0.0])


def test_gray_to_rgb_copies_the_channel():
    x = batch(c=1)
    out = GrayToRGB()(x)
    for k in range(3):
        assert np.array_equal(out[:, k], x[:, 0])
    with pytest.raises(ValueError, match=r"GrayToRGB: expected 1 channel"):
        GrayToRGB()(batch(c=3))


def test_resize_28_to_32_keeps_a_constant_image_constant():
    x = np.full((2, 3, 28, 28), 0.37, dtype=np.float32)
    np.testing.assert_allclose(Resize(32)(x), 0.37, rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(2, 12), w=st.integers(2, 12), ho=st.integers(2, 32), wo=st.integers(2, 32))
def test_resize_matches_scikit_image_bilinear(h, w, ho, wo):
    image = np.random.default_rng(h * 100 + w).random((h, w))
    ours = Resize((ho, wo))(image[None, None])[0, 0]
    theirs = sk_resize(image, (ho, wo), order=1, mode="edge", anti_aliasing=False)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_pad_to_32_centres_the_image():
    x = batch(h=28, w=28) + 1.0
    out = PadTo(32, fill=-0.5)(x)
    assert np.array_equal(out[:, :, 2:30, 2:30], x)
    border = np.ones((32, 32), dtype=bool)
    border[2:30, 2:30] = False
    assert np.all(out[:, :, border] == -0.5)
    with pytest.raises(ValueError, match=r"PadTo: image \(28, 28\) is larger than the target \(20, 20\)"):
        PadTo(20)(x)


def test_compose_applies_in_order_with_one_rng():
    x = batch(n=8, c=1, h=28, w=28)
    chain = Compose([GrayToRGB(), PadTo(32), ColorCast(0.1), RandomHorizontalFlip()])
    out = chain(x, rng(3))
    assert out.shape == (8, 3, 32, 32)
    assert np.array_equal(out, chain(x, rng(3)))
    with pytest.raises(ValueError, match="ColorCast"):  # wrong order: cast before GrayToRGB
        Compose([ColorCast(0.1), GrayToRGB()])(x, rng())


@pytest.mark.parametrize("bad", [np.zeros((2, 1, 4, 4), dtype=np.uint8), np.zeros((1, 4, 4)),
                                 [[[[0.0]]]]], ids=["uint8", "3d", "list"])
def test_bad_batches_are_rejected_with_the_transform_name(bad):
    with pytest.raises(ValueError, match=r"RandomShift: expected a float numpy array \(N, C, H, W\)"):
        RandomShift(1)(bad, rng())


def test_random_transforms_need_a_generator():
    with pytest.raises(TypeError, match="RandomRotation: needs rng"):
        RandomRotation(10)(batch(), None)


def test_random_erasing_sets_one_rectangle_per_image_to_value_with_the_drawn_area_and_ratio():
    """Every erased image differs from its input in exactly one axis-aligned rectangle, across
    all channels, set to the value; its area fraction lies in scale, its h/w near ratio (rounding
    to whole pixels), and about p of the images are erased."""
    x = batch(n=400, c=2, h=20, w=24, seed=5) + 1.0      # > 0: the value -1 is recognisable
    scale, ratio = (0.05, 0.3), (0.5, 2.0)
    out = RandomErasing(p=0.6, scale=scale, ratio=ratio, value=-1.0)(x, rng(2))
    erased = 0
    for o, s in zip(out, x):
        changed = (o != s).any(axis=0)
        if not changed.any():
            continue
        erased += 1
        ys, xs = np.nonzero(changed)
        h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert changed.sum() == h * w                          # one full rectangle
        assert np.all(o[:, changed] == -1.0) and np.all((o == s)[:, ~changed])
        assert scale[0] * 0.6 <= h * w / (20 * 24) <= scale[1] * 1.4
        assert ratio[0] * 0.5 <= h / w <= ratio[1] * 2.0
    assert 200 < erased < 280                                  # p = 0.6 of 400: 240 expected


def test_random_erasing_with_p_0_or_an_impossible_area_changes_nothing():
    x = batch(h=8, w=8)
    assert np.array_equal(RandomErasing(p=0.0)(x, rng()), x)
    assert np.array_equal(RandomErasing(p=1.0, scale=(1.0, 1.0), ratio=(1.0, 1.0))(x, rng()), x)


@pytest.mark.parametrize("kwargs, words", [({"p": 1.5}, "p must be in"),
                                           ({"scale": (0.5, 0.1)}, "scale must be"),
                                           ({"ratio": (0.0, 1.0)}, "ratio must be")])
def test_random_erasing_rejects_bad_settings(kwargs, words):
    with pytest.raises(ValueError, match=f"RandomErasing: {words}"):
        RandomErasing(**kwargs)
