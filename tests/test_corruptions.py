"""Tests for multisheets.corruptions, our CIFAR-10-C style corruption generator."""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from multisheets.corruptions import (
    CORRUPTIONS,
    DETERMINISTIC,
    STANDARD,
    corrupt,
    generate,
    load_official,
    severity_rng,
)
from multisheets.corruptions._ops import disk_kernel, hsv_to_rgb, motion_blur_kernel, rgb_to_hsv
from multisheets.corruptions.frost import FROST_FILES

# shared/ sits beside the repository checkout.
FROST_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference" / "frost"
HAVE_FROST = all((FROST_DIR / name).is_file() for name in FROST_FILES)

SEED = 7
RANDOM = [name for name in CORRUPTIONS if name not in DETERMINISTIC]

# Corruptions whose published parameters do not make the change grow with severity:
NOT_MONOTONE = {
    "glass_blur": "severities 3 and 5 blur more than 2 and 4, which smooths away part of the pixel shuffling",
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


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    # The test images are tiny: extra torch threads only add start-up and, on a busy machine, waits.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
