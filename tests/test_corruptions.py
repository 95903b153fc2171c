"""Tests for multisheets.interventions.corruptions, our CIFAR-10-C style corruption generator."""

from __future__ import annotations

import colorsys
import ctypes
import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from multisheets.interventions.corruptions import (
    CORRUPTIONS,
    DETERMINISTIC,
    STANDARD,
    blur,
    corrupt,
    generate,
    load_official,
    severity_rng,
)
from multisheets.interventions.corruptions._ops import (
    clipped_zoom_matrix,
    disk_kernel,
    hsv_to_rgb,
    magick_kernel_width,
    magick_motion_taps,
    motion_blur_kernel,
    rgb_to_hsv,
    sum_shifted,
)
from multisheets.interventions.corruptions.frost import FROST_FILES

pytestmark = pytest.mark.usefixtures("one_thread")

# shared/ sits beside the repository checkout.
FROST_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference" / "frost"
HAVE_FROST = all((FROST_DIR / name).is_file() for name in FROST_FILES)

SEED = 7
RANDOM = [name for name in CORRUPTIONS if name not in DETERMINISTIC]

# Corruptions whose published parameters do not make the change grow with severity:
NOT_MONOTONE = {
    "glass_blur": "severities 3 and 5 blur more than 2 and 4, which smooths away part of the pixel shuffling",
    "motion_blur": "3 and 4 share sigma 2; ImageMagick's taps past 12 px weigh < 1e-7: equal, in the reference too",
    "elastic_transform": "the affine jitter shrinks from 2.56 to 0.96 px while the elastic field grows",
    "frost": "the image weight falls while the frost weight stalls at 0.4-0.45, a trade-off",
    "saturate": "severities 1-2 desaturate (x0.3, x0.1), 3-5 oversaturate (x1.5 .. x2.5 + shift)",
    "spatter": "severities 1-3 add water drops, 4-5 mud, which covers less area",
    "snow": "severities 2 and 3 are about equally strong (lower threshold vs. more, larger flakes)",
}


def smooth_images(n: int, h: int, w: int, seed: int = 0, cells: int = 6) -> np.ndarray:
    """Seeded low-frequency colour noise, upsampled: natural-looking smooth images with structure."""
    rng = np.random.default_rng(seed)
    low = torch.from_numpy(rng.random((n, 3, cells, cells), dtype=np.float32))
    up = F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    return np.rint(up.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return smooth_images(20, 32, 32)


@pytest.fixture(scope="module")
def generated(images) -> dict[str, np.ndarray]:
    return {name: generate(images, name, SEED) for name in CORRUPTIONS}


# ---------------------------------------------------------------------------------------------- API


def test_names_and_order():
    assert len(CORRUPTIONS) == 19 and len(set(CORRUPTIONS)) == 19
    assert CORRUPTIONS[:15] == STANDARD
    assert STANDARD[0] == "gaussian_noise" and STANDARD[-1] == "jpeg_compression"
    assert CORRUPTIONS[15:] == ("speckle_noise", "gaussian_blur", "spatter", "saturate")


def test_invalid_arguments(images):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="gaussian_noise"):
        corrupt(images, "rain", 1, rng)
    for bad in (0, 6, 2.5, True):
        with pytest.raises(ValueError, match="1, 2, 3, 4, 5"):
            corrupt(images, "fog", bad, rng)
    with pytest.raises(ValueError, match="valid choices"):
        generate(images, "rain", 0)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(images.astype(np.float32), "fog", 1, rng)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_generate_layout_and_types(name, images, generated):
    out = generated[name]
    n = len(images)
    assert out.dtype == np.uint8 and out.shape == (5 * n,) + images.shape[1:]
    for k in range(5):
        block = corrupt(images, name, k + 1, severity_rng(SEED, name, k + 1))
        assert block.dtype == np.uint8 and block.shape == images.shape
        np.testing.assert_array_equal(out[k * n : (k + 1) * n], block)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_non_square_images(name):
    imgs = smooth_images(3, 48, 64, seed=1)
    out = generate(imgs, name, SEED)
    assert out.dtype == np.uint8 and out.shape == (15, 48, 64, 3)
    np.testing.assert_array_equal(out, generate(imgs, name, SEED))
    odd = smooth_images(2, 24, 21, seed=2)
    assert corrupt(odd, name, 5, np.random.default_rng(0)).shape == odd.shape


# ---------------------------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_same_seed_identical(name, images, generated):
    assert generate(images, name, SEED).tobytes() == generated[name].tobytes()


@pytest.mark.parametrize("name", RANDOM)
def test_different_seed_differs(name, images, generated):
    other = generate(images, name, SEED + 1)
    assert not np.array_equal(other, generated[name])


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
def test_deterministic_corruptions_ignore_seed(name, images, generated):
    np.testing.assert_array_equal(generate(images, name, SEED + 1), generated[name])


def test_severities_use_independent_streams():
    draws = [severity_rng(0, "fog", s).random(4) for s in range(1, 6)]
    assert len({d.tobytes() for d in draws}) == 5
    assert not np.array_equal(severity_rng(0, "fog", 1).random(4), severity_rng(0, "snow", 1).random(4))


# ---------------------------------------------------------------------------------------------- severity


def mean_abs_change(images: np.ndarray, name: str) -> np.ndarray:
    # One seed for every severity: the random draws then coincide and only the parameters differ.
    return np.array(
        [np.abs(corrupt(images, name, s, np.random.default_rng(3)).astype(float) - images).mean() for s in range(1, 6)]
    )


@pytest.mark.parametrize("name", [c for c in CORRUPTIONS if c not in NOT_MONOTONE])
def test_severity_monotone(name, images):
    change = mean_abs_change(images, name)
    assert change[0] > 0
    assert np.all(np.diff(change) > 0), change


@pytest.mark.parametrize("name", sorted(NOT_MONOTONE))
def test_non_monotone_still_corrupt(name, images):
    change = mean_abs_change(images, name)
    assert np.all(change > 0.5), change


def test_saturate_direction(images):
    sat = [rgb_to_hsv(corrupt(images, "saturate", s, None).astype(np.float32) / 255)[..., 1].mean() for s in (1, 3)]
    clean = rgb_to_hsv(images.astype(np.float32) / 255)[..., 1].mean()
    assert sat[0] < clean < sat[1]


# ---------------------------------------------------------------------------------------------- building blocks


def test_motion_blur_kernel():
    k = motion_blur_kernel(6, 2, 0)
    assert k.shape == (13, 13)
    assert k.sum() == pytest.approx(1)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-12)
    np.testing.assert_allclose(k, k[:, ::-1], atol=1e-12)
    assert k[6].sum() == pytest.approx(1)  # all weight on the horizontal line through the centre
    assert np.all(np.diff(k[6, 6:]) < 0)  # Gaussian fall-off along the line
    for angle in (-45, -17.5, 30, 45):
        k = motion_blur_kernel(9 * 1.3, 2.5 * 1.3, angle)
        assert k.sum() == pytest.approx(1)
        np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-12)
        # The kernel's long axis points along the requested angle (rows grow downwards).
        ys, xs = np.mgrid[: k.shape[0], : k.shape[1]] - k.shape[0] // 2
        cov = np.cov(np.stack((xs.ravel(), -ys.ravel())), aweights=k.ravel())
        major = np.linalg.eigh(cov)[1][:, -1]
        assert np.degrees(np.arctan(major[1] / major[0])) == pytest.approx(angle, abs=1)


# ---------------------------------------------------------------------------------------------- zoom blur
# The reference averages x with clipped_zoom(x, z), z in np.arange(1, stop, 0.01): crop the central ceil(h / z)
# pixels (from (h - crop) // 2), magnify them to round(crop * z) with a first-order spline on the corner-aligned
# grid (output o reads o * (crop - 1) / (out - 1)), keep h of those from (out - h) // 2.
ZOOM_STOPS = (1.06, 1.11, 1.16, 1.21, 1.26)  # the reference's np.arange stops


def clipped_zoom_by_hand(img: np.ndarray, z: float) -> np.ndarray:
    """The published clipped_zoom of a square (h, h, C) image from per-pixel source coordinates, no scipy."""
    h, crop = img.shape[0], math.ceil(img.shape[0] / z)
    out = round(crop * z)
    top, trim = (h - crop) // 2, (out - h) // 2
    pos = (trim + np.arange(h)) * (crop - 1) / (out - 1)
    lo = np.minimum(np.floor(pos).astype(int), crop - 2)
    hi, f = lo + 1, pos - lo
    c, fy, fx = img[top : top + crop, top : top + crop], f[:, None, None], f[None, :, None]
    return (1 - fy) * ((1 - fx) * c[lo][:, lo] + fx * c[lo][:, hi]) + fy * ((1 - fx) * c[hi][:, lo] + fx * c[hi][:, hi])


def test_clipped_zoom_matrix():
    # The reference's factors bit for bit: at 32 px, 26 * 1.2500000000000002 rounds to 33 where 26 * 1.25 gives 32.
    for severity, stop in enumerate(ZOOM_STOPS, start=1):
        assert blur.zoom_factors(severity).tobytes() == np.arange(1, stop, 0.01).tobytes()
    # h = 4, z = 1.5 by hand: crop ceil(2.67) = 3 from 0; round(4.5) = 4 outputs read it at 0, 2/3, 4/3, 2.
    expected = [[1, 0, 0, 0], [1 / 3, 2 / 3, 0, 0], [0, 2 / 3, 1 / 3, 0], [0, 0, 1, 0]]
    np.testing.assert_allclose(clipped_zoom_matrix(4, 1.5), expected, atol=1e-12)
    # Only a whole crop that is not magnified comes back unchanged: 32 -> 33 (z 1.02), 31 -> 32 (1.04) zoom.
    for z, identity in ((1.0, True), (1.01, True), (1.02, False), (1.04, False)):
        assert np.allclose(clipped_zoom_matrix(32, z), np.eye(32)) == identity
    for h in (5, 12, 32):
        img = np.random.default_rng(h).random((h, h, 3))
        for z in np.arange(1, 1.26, 0.01):
            m = clipped_zoom_matrix(h, float(z))
            np.testing.assert_allclose(np.einsum("ij,jkc,lk->ilc", m, img, m), clipped_zoom_by_hand(img, z), atol=1e-12)
            if math.ceil(h / z) == h and round(h * z) == h:
                np.testing.assert_array_equal(m, np.eye(h))


@pytest.mark.parametrize("size", [32, 12])
def test_zoom_blur_matches_published_algorithm(size, monkeypatch):
    imgs = smooth_images(3, size, size, seed=5)
    for severity in range(1, 6):
        factors = np.arange(1, ZOOM_STOPS[severity - 1], 0.01)
        by_hand = [(x + sum(clipped_zoom_by_hand(x, z) for z in factors)) / (len(factors) + 1) for x in imgs / 255]
        exact = np.stack(by_hand) * 255
        # 8-bit output: equal except where float32 input noise tips an exact half-level tie (common at 12 px).
        diff = np.abs(corrupt(imgs, "zoom_blur", severity, None) - np.rint(exact))
        assert diff.max() <= 1 and not diff[np.abs(exact % 1 - 0.5) > 1e-6].any()
        dense = blur.zoom_blur(imgs.astype(np.float32) / 255, severity, None)
        np.testing.assert_allclose(dense * 255, exact, atol=1e-4)
        with monkeypatch.context() as patch:  # the path for larger images gives the same values
            patch.setattr(blur, "DENSE_ZOOM_PIXELS", 0)
            np.testing.assert_allclose(blur.zoom_blur(imgs.astype(np.float32) / 255, severity, None), dense, atol=1e-12)


# ---------------------------------------------------------------------------------------------- motion blur
# ImageMagick's MotionBlurImage: 2*ceil(radius)+1 taps, tap i weighted by a normalised Gaussian of i, read at
# (ceil(i cos a - 0.5), ceil(i sin a - 0.5)) from the output pixel (y down), edge pixels repeated. Below: 255 *
# impulse response, truncated to 8 bits, as ImageMagick 6.9.11-60 Q16 wrote it via Wand (41x41 black PNG, one
# white pixel, radius 6, sigma 2): {(dy, dx) from the white pixel: value}.
MAGICK_IMPULSE = {
    0: {(0, -5): 3, (0, -4): 11, (0, -3): 27, (0, -2): 51, (0, -1): 74, (0, 0): 84},
    -30: {(2, -4): 3, (2, -3): 11, (1, -3): 27, (1, -2): 51, (1, -1): 74, (0, 0): 84},
    45: {(-4, -4): 4, (-3, -3): 11, (-2, -2): 27, (-1, -1): 126, (0, 0): 84},
}


def test_magick_motion_taps():
    assert [magick_kernel_width(r, s) for r, s in blur.MOTION] == [13, 13, 13, 17, 19]
    assert magick_kernel_width(0, 1) == 9 and magick_kernel_width(0, 0) == 3
    weights, dx, dy = magick_motion_taps(2, 1.5, np.array([0, 30, 90]))
    i = np.arange(5)
    np.testing.assert_allclose(weights, np.exp(-(i**2) / 4.5) / np.exp(-(i**2) / 4.5).sum())
    np.testing.assert_array_equal(dx, [i, [0, 1, 2, 3, 3], [0] * 5])
    np.testing.assert_array_equal(dy, [[0] * 5, [0, 0, 1, 1, 2], i])  # sin 30 = 1/2: half-pixel ties round down
    # A trail reaching past the right edge reads the edge pixel: a horizontal ramp keeps its last column.
    ramp = np.broadcast_to(np.linspace(0, 1, 16, dtype=np.float32)[None, None, :, None], (2, 8, 16, 3)).copy()
    out = sum_shifted(ramp, *magick_motion_taps(6, 2, np.array([0.0, 0.0])))
    np.testing.assert_allclose(out[..., -1, :], 1, atol=1e-6)
    assert np.all(out[..., :-1, :] > ramp[..., :-1, :])  # one-sided: every pixel takes from its right


@pytest.mark.parametrize("angle", sorted(MAGICK_IMPULSE))
def test_motion_blur_impulse_matches_imagemagick(angle):
    x = np.zeros((1, 41, 41, 3), dtype=np.float32)
    x[0, 20, 20] = 1
    out = np.floor(sum_shifted(x, *magick_motion_taps(6, 2, [angle]))[0, ..., 0].astype(np.float64) * 255 + 1e-6)
    assert {(int(r) - 20, int(c) - 20): out[r, c] for r, c in zip(*np.nonzero(out))} == MAGICK_IMPULSE[angle]


def test_motion_blur_matches_imagemagick_when_installed():
    wand_image = pytest.importorskip("wand.image", reason="Wand and ImageMagick are not installed")
    library = pytest.importorskip("wand.api").library
    # The reference calls MagickMotionBlurImage directly on the PNG-encoded image.
    library.MagickMotionBlurImage.argtypes = (ctypes.c_void_p,) + (ctypes.c_double,) * 3
    imgs = smooth_images(4, 32, 32, seed=8)
    for (radius, sigma), angle in zip(blur.MOTION[::2], (-45.0, -12.5, 41.0)):
        ours = sum_shifted(imgs / 255, *magick_motion_taps(radius, sigma, np.full(len(imgs), angle))) * 255
        for img, mine in zip(imgs, ours):
            Image.fromarray(img).save(png := io.BytesIO(), format="PNG")
            with wand_image.Image(blob=png.getvalue()) as magick:
                library.MagickMotionBlurImage(magick.wand, radius, sigma, angle)
                magick.depth = 16
                theirs = np.frombuffer(magick.make_blob("rgb"), dtype="<u2").reshape(img.shape) / 257
            # Equal up to ImageMagick's rounding to a 16-bit quantum (half of 1/257 grey level).
            np.testing.assert_allclose(mine, theirs, atol=0.6 / 257)


def test_disk_kernel():
    for radius, alias in ((0.3, 0.4), (1, 0.2), (1.5, 0.1), (3.7, 0.5)):
        k = disk_kernel(radius, alias)
        assert k.sum() == pytest.approx(1)
        np.testing.assert_allclose(k, k.T, atol=1e-12)
        np.testing.assert_allclose(k, k[::-1], atol=1e-12)
        assert k[k.shape[0] // 2, k.shape[1] // 2] == k.max()


def test_hsv_round_trip_matches_colorsys():
    rgb = np.random.default_rng(0).random((500, 3)).astype(np.float32)
    rgb[:5] = [[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [1, 0, 0], [0, 1, 1]]
    hsv = rgb_to_hsv(rgb)
    expected = np.array([colorsys.rgb_to_hsv(*p) for p in rgb.astype(np.float64)])
    np.testing.assert_allclose(hsv, expected, atol=1e-6)
    np.testing.assert_allclose(hsv_to_rgb(hsv), rgb, atol=1e-6)


def test_brightness_and_contrast_formulas(images):
    x = images.astype(np.float64) / 255
    bright = corrupt(images, "brightness", 5, None).astype(np.float64) / 255
    expected_v = np.clip(x.max(axis=-1) + 0.3, 0, 1)
    np.testing.assert_allclose(bright.max(axis=-1), expected_v, atol=1 / 255)
    low = corrupt(images, "contrast", 5, None).astype(np.float64) / 255
    means = x.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(low, (x - means) * 0.15 + means, atol=0.51 / 255)


def test_noise_levels(images):
    flat = np.full((200, 32, 32, 3), 128, dtype=np.uint8)
    noisy = corrupt(flat, "gaussian_noise", 5, np.random.default_rng(0)).astype(float) / 255
    assert noisy.std() == pytest.approx(0.10, rel=0.02)
    salted = corrupt(flat, "impulse_noise", 5, np.random.default_rng(0))
    assert np.isin(salted, (0, 255)).mean() == pytest.approx(0.07, rel=0.05)


# ---------------------------------------------------------------------------------------------- frost


def test_frost_substitute(images):
    out = generate(images, "frost", SEED)
    assert out.shape == (100, 32, 32, 3)
    np.testing.assert_array_equal(out, generate(images, "frost", SEED))
    # A pale blue-grey layer: the blue channel gains most at the strongest frost weight.
    gain = out[80:].astype(float).mean(axis=(0, 1, 2)) - images.astype(float).mean(axis=(0, 1, 2))
    assert gain[2] > gain[0]


@pytest.mark.skipif(not HAVE_FROST, reason="reference frost photographs not available")
def test_frost_photos(images):
    out = generate(images, "frost", SEED, frost_dir=FROST_DIR)
    assert out.dtype == np.uint8 and out.shape == (100, 32, 32, 3)
    np.testing.assert_array_equal(out, generate(images, "frost", SEED, frost_dir=FROST_DIR))
    assert not np.array_equal(out, generate(images, "frost", SEED))  # photos, not the substitute
    assert not np.array_equal(out, generate(images, "frost", SEED + 1, frost_dir=FROST_DIR))
    # Severity 1 is x + 0.2 * crop: never darker than the clean image.
    assert np.all(out[:20].astype(int) >= images.astype(int))
    big = smooth_images(2, 120, 200)
    assert corrupt(big, "frost", 3, np.random.default_rng(0), FROST_DIR).shape == big.shape


def test_frost_missing_photos(tmp_path, images):
    with pytest.raises(FileNotFoundError, match="frost1.png"):
        corrupt(images, "frost", 1, np.random.default_rng(0), frost_dir=tmp_path)


# ---------------------------------------------------------------------------------------------- official files


def test_load_official(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, size=(15, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(15, dtype=np.uint8) % 10
    np.save(tmp_path / "fog.npy", imgs)
    np.save(tmp_path / "labels.npy", labels)
    got_images, got_labels = load_official(tmp_path, "fog")
    np.testing.assert_array_equal(got_images, imgs)
    assert got_labels.dtype == np.int64
    np.testing.assert_array_equal(got_labels, labels)


def test_load_official_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="snow.npy"):
        load_official(tmp_path, "snow")
    np.save(tmp_path / "snow.npy", np.zeros((10, 32, 32, 3), dtype=np.uint8))
    with pytest.raises(FileNotFoundError, match="labels.npy"):
        load_official(tmp_path, "snow")
    np.save(tmp_path / "labels.npy", np.zeros(10, dtype=np.int64))
    np.save(tmp_path / "fog.npy", np.zeros((10, 32, 32), dtype=np.uint8))
    with pytest.raises(ValueError, match="fog.npy"):
        load_official(tmp_path, "fog")
    np.save(tmp_path / "labels.npy", np.zeros(7, dtype=np.int64))
    with pytest.raises(ValueError, match="labels.npy"):
        load_official(tmp_path, "snow")
    with pytest.raises(ValueError, match="valid choices"):
        load_official(tmp_path, "rain")
