"""Frost: blend the image with a frost texture, ``image_weight * x + frost_weight * texture`` in 0..255.

With ``frost_dir`` the texture is a crop of the reference frost photographs (frost1.png, frost2.png,
frost3.png, frost4.jpg, frost5.jpg; frost6 is never used, as in the reference): each image picks one of
the five uniformly, the photo is read as RGB and resized bilinearly (no anti-aliasing, like OpenCV's
INTER_LINEAR) by ``0.2 * min(H, W) / 32`` per side, raised where needed so that the photo still covers an
HxW crop, and a uniformly placed HxW crop is taken. For 32x32 images this is the published procedure;
scaling the 0.2 with the image keeps the crystals the same size relative to the image content.

Without ``frost_dir`` a procedural SUBSTITUTE is used. It is not the published frost corruption and its
numbers are not comparable with CIFAR-10-C frost. Per image it draws a seeded ice texture: a smooth
haze, needle-like crystals (sparse nuclei smeared by line kernels in three random directions) and a
pixel-scale grain, mixed and then standardised to the colour means and contrast of 32x32 crops of the
reference photos (channel means 141/162/174, standard deviation about 22), so that the published blend
weights darken and wash out the image by similar amounts.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ._ops import convolve_per_image, gaussian_filter, motion_blur_kernels, spatial_scale, to_numpy

FROST = ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))  # (image weight, frost weight)
FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")
PHOTO_SCALE = 0.2


def frost(x: np.ndarray, severity: int, rng: np.random.Generator, frost_dir=None) -> np.ndarray:
    image_weight, frost_weight = FROST[severity - 1]
    n, h, w, _ = x.shape
    if frost_dir is None:
        texture = substitute_texture(n, h, w, rng)
    else:
        texture = photo_crops(frost_dir, n, h, w, rng)
    return image_weight * x + frost_weight * (texture / 255)


# ---------------------------------------------------------------------------------------------- photos


@functools.lru_cache(maxsize=8)
def _resized_photos(frost_dir: str, h: int, w: int) -> tuple[np.ndarray, ...]:
    photos = []
    for name in FROST_FILES:
        path = Path(frost_dir) / name
        if not path.is_file():
            raise FileNotFoundError(f"frost photo not found: {path} (expected {', '.join(FROST_FILES)})")
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
        ph, pw = rgb.shape[:2]
        scale = max(PHOTO_SCALE * spatial_scale(h, w), h / ph, w / pw)
        size = (max(h, round(ph * scale)), max(w, round(pw * scale)))
        t = torch.from_numpy(rgb).permute(2, 0, 1)[None]
        t = F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=False)
        photos.append(t[0].permute(1, 2, 0).numpy().round().clip(0, 255))
    return tuple(photos)


def photo_crops(frost_dir, n: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """n random HxW crops (float32, 0..255) of the resized reference frost photographs."""
    photos = _resized_photos(str(Path(frost_dir).resolve()), h, w)
    which = rng.integers(0, len(photos), size=n)
    u = rng.random((2, n))
    crops = np.empty((n, h, w, 3), dtype=np.float32)
    for k, photo in enumerate(photos):
        sel = np.flatnonzero(which == k)
        if not len(sel):
            continue
        top = np.floor(u[0, sel] * (photo.shape[0] - h + 1)).astype(np.intp)
        left = np.floor(u[1, sel] * (photo.shape[1] - w + 1)).astype(np.intp)
        rows = top[:, None, None] + np.arange(h)[None, :, None]
        cols = left[:, None, None] + np.arange(w)[None, None, :]
        crops[sel] = photo[rows, cols]
    return crops


# ---------------------------------------------------------------------------------------------- substitute

# Colour and contrast of 32x32 crops of the reference photos (channel means, mean per-crop std), so that
# the published blend weights darken and wash out the image by similar amounts.
FROST_MEAN = np.array([141, 162, 174], dtype=np.float32)
FROST_STD = 22.0


def _standardise(t: torch.Tensor) -> torch.Tensor:
    mean = t.mean(dim=(1, 2, 3), keepdim=True)
    std = t.std(dim=(1, 2, 3), keepdim=True)
    return (t - mean) / std.clamp(min=1e-6)


def substitute_texture(n: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """n procedural ice textures (float32 (n, H, W, 3), 0..255); see the module docstring."""
    scale = spatial_scale(h, w)

    def noise() -> torch.Tensor:
        return torch.from_numpy(rng.standard_normal((n, 1, h, w), dtype=np.float32))

    haze = _standardise(gaussian_filter(noise(), 3 * scale, mode="reflect"))
    needles = torch.zeros(n, 1, h, w)
    for _ in range(3):
        nuclei = torch.from_numpy((rng.random((n, 1, h, w)) < 0.08).astype(np.float32))
        kernels = motion_blur_kernels(3 * scale, 1.5 * scale, rng.uniform(0, 180, size=n))
        needles += convolve_per_image(nuclei, kernels, mode="reflect")
    needles = _standardise(needles)
    # Fine grain: the photos, shrunk without anti-aliasing, are speckled at the pixel scale.
    grain = _standardise(gaussian_filter(noise(), 0.5 * scale, mode="reflect"))
    ice = _standardise(0.5 * haze + 0.6 * needles + 0.6 * grain)
    texture = FROST_MEAN + FROST_STD * (FROST_MEAN / FROST_MEAN.max()) * to_numpy(ice)
    return np.clip(texture, 0, 255).astype(np.float32)
