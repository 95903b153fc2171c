"""Our own generator of CIFAR-10-C style common corruptions (Hendrycks & Dietterich, ICLR 2019).

Nineteen corruptions at severities 1..5 with the published CIFAR-10 (32x32) parameters: the 15 standard
ones in the official order, then the 4 extras (speckle_noise, gaussian_blur, spatter, saturate).

* :func:`corrupt` applies one corruption at one severity to a batch of uint8 images (N, H, W, 3). Pixel
  maths runs on floats in [0, 1]; the result is clipped, scaled to 0..255 and rounded to the nearest
  integer (the reference truncates, which darkens by half a grey level on average).
* :func:`generate` produces the official CIFAR-10-C layout for one corruption: (5N, H, W, 3), all N
  images at severity 1 first, then severity 2, and so on. Severity k uses its own generator,
  ``np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode()), k]))``, so the output
  is bit-identical for the same (images, name, seed) on the same software stack, and the random draws
  are independent across corruptions and severities.
* :func:`load_official` reads a downloaded CIFAR-10-C corruption into the same layout.

Any image size works. Parameters the reference gives in pixels of a 32x32 image (blur sigmas and
radii, glass-blur offsets, motion-blur length, snow flake size, spatter blur, elastic alpha/sigma/affine,
frost photo scale) are multiplied by ``min(H, W) / 32``, so that a corruption looks the same relative
to the image content; ratios (zoom factors, pixelate factor), per-pixel noise and colour shifts are
used as published. For 32x32 images nothing is rescaled.

Frost uses the reference photographs when ``frost_dir`` is given and a procedural substitute
otherwise (see :mod:`.frost`); spatter is an approximation of the reference (see :mod:`.weather`). Other
small departures are listed in each module's docstring.

Work is done in chunks of about ``CHUNK_PIXELS`` pixels, so memory stays bounded for the whole test set.
The chunking is fixed, so results do not depend on anything but the inputs and the generator.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from . import blur, digital, noise, weather
from .frost import frost

STANDARD: tuple[str, ...] = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)
EXTRA: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
CORRUPTIONS: tuple[str, ...] = STANDARD + EXTRA
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

_FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "gaussian_noise": noise.gaussian_noise,
    "shot_noise": noise.shot_noise,
    "impulse_noise": noise.impulse_noise,
    "speckle_noise": noise.speckle_noise,
    "defocus_blur": blur.defocus_blur,
    "glass_blur": blur.glass_blur,
    "motion_blur": blur.motion_blur,
    "zoom_blur": blur.zoom_blur,
    "gaussian_blur": blur.gaussian_blur,
    "snow": weather.snow,
    "frost": frost,
    "fog": weather.fog,
    "spatter": weather.spatter,
    "brightness": digital.brightness,
    "contrast": digital.contrast,
    "saturate": digital.saturate,
    "elastic_transform": digital.elastic_transform,
    "pixelate": digital.pixelate,
    "jpeg_compression": digital.jpeg_compression,
}
assert set(_FUNCTIONS) == set(CORRUPTIONS)

# Corruptions whose output does not depend on the generator.
DETERMINISTIC: frozenset[str] = frozenset(
    {"defocus_blur", "zoom_blur", "gaussian_blur", "brightness", "contrast", "saturate", "pixelate", "jpeg_compression"}
)

CHUNK_PIXELS = 1 << 21  # about 2000 images of 32x32 per chunk


def _check(name: str, severity: int) -> None:
    if name not in _FUNCTIONS:
        raise ValueError(f"unknown corruption {name!r}; valid choices: {', '.join(CORRUPTIONS)}")
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 of shape (N, H, W, 3), got {images.dtype} {images.shape}")
    return images


def corrupt(
    images: np.ndarray,
    name: str,
    severity: int,
    rng: np.random.Generator,
    frost_dir: str | Path | None = None,
) -> np.ndarray:
    """Apply corruption ``name`` at ``severity`` (1..5) to uint8 images (N, H, W, 3); returns uint8 of the
    same shape. Randomness comes only from ``rng``; ``frost_dir`` is used by frost only."""
    _check(name, severity)
    images = _check_images(images)
    fn = _FUNCTIONS[name]
    extra = {"frost_dir": frost_dir} if name == "frost" else {}
    n, h, w, _ = images.shape
    out = np.empty_like(images)
    chunk = max(1, CHUNK_PIXELS // (h * w))
    with torch.no_grad():
        for start in range(0, n, chunk):
            x = images[start : start + chunk].astype(np.float32) / 255
            y = fn(x, int(severity), rng, **extra)
            out[start : start + chunk] = np.rint(np.clip(y, 0, 1) * 255).astype(np.uint8)
    return out


def severity_rng(seed: int, name: str, severity: int) -> np.random.Generator:
    """The generator :func:`generate` uses for one (seed, corruption, severity)."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode()), severity]))


def generate(
    images: np.ndarray,
    name: str,
    seed: int,
    frost_dir: str | Path | None = None,
) -> np.ndarray:
    """All five severities of one corruption in the CIFAR-10-C layout: uint8 (5N, H, W, 3), severity 1's
    N images first. Bit-identical for the same (images, name, seed, frost photos)."""
    _check(name, 1)
    images = _check_images(images)
    n = len(images)
    out = np.empty((len(SEVERITIES) * n,) + images.shape[1:], dtype=np.uint8)
    for k, severity in enumerate(SEVERITIES):
        out[k * n : (k + 1) * n] = corrupt(images, name, severity, severity_rng(seed, name, severity), frost_dir)
    return out


def load_official(directory: str | Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a downloaded CIFAR-10-C corruption: ``<directory>/<name>.npy`` (uint8 (5N, H, W, 3)) and
    ``<directory>/labels.npy``; returns (images, labels as int64 (5N,)) in the layout of :func:`generate`."""
    _check(name, 1)
    directory = Path(directory)
    image_path = directory / f"{name}.npy"
    label_path = directory / "labels.npy"
    for path in (image_path, label_path):
        if not path.is_file():
            raise FileNotFoundError(f"CIFAR-10-C file not found: {path}")
    images = np.load(image_path)
    labels = np.load(label_path)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or len(images) % len(SEVERITIES):
        raise ValueError(f"{image_path}: expected uint8 of shape (5N, H, W, 3), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{label_path}: expected integer labels of shape ({len(images)},), got {labels.dtype} {labels.shape}"
        )
    return images, labels.astype(np.int64)


__all__ = [
    "CORRUPTIONS",
    "STANDARD",
    "EXTRA",
    "SEVERITIES",
    "DETERMINISTIC",
    "corrupt",
    "generate",
    "load_official",
    "severity_rng",
]
