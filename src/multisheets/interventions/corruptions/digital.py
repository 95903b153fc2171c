"""Digital corruptions: brightness, contrast, saturate, elastic transform, pixelate and JPEG compression.

Each function takes float32 images (N, H, W, 3) in [0, 1] and returns a float array of the same shape.
The elastic transform's alpha, sigma and affine jitter are the published 32x32 pixel values multiplied by
``min(H, W) / 32``; pixelate's factor is already relative to the image side.

Elastic transform, as in the reference, resamples twice: first a random affine map (three points around
the centre, each moved by up to +-affine pixels; borders mirrored about the edge pixels), then a smooth
displacement field (uniform noise in [-1, 1] per pixel, Gaussian-smoothed with sigma, times alpha).
Both use bilinear interpolation (torch ``grid_sample``) where the reference uses OpenCV and SciPy. On
images larger than 32x32 the smoothed field is rescaled (``_ops.noise_blur_gain``) so that, like every
other length, the displacements grow in proportion to the image.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from ._ops import (
    gaussian_filter,
    hsv_to_rgb,
    noise_blur_gain,
    pixel_grid,
    rgb_to_hsv,
    sample_pixels,
    spatial_scale,
    to_numpy,
    to_torch,
)

BRIGHTNESS = (0.05, 0.10, 0.15, 0.20, 0.30)
CONTRAST = (0.75, 0.5, 0.4, 0.3, 0.15)
SATURATE = ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2))  # (scale, shift) of HSV saturation
# (alpha, sigma, affine jitter), in pixels of a 32x32 image
ELASTIC = ((0, 0, 2.56), (1.6, 6.4, 2.24), (2.56, 1.92, 1.92), (3.2, 1.28, 1.6), (3.2, 0.96, 0.96))
PIXELATE = (0.95, 0.90, 0.85, 0.75, 0.65)
JPEG_QUALITY = (80, 65, 58, 50, 40)


def brightness(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    hsv = rgb_to_hsv(x)
    hsv[..., 2] = np.clip(hsv[..., 2] + BRIGHTNESS[severity - 1], 0, 1)
    return hsv_to_rgb(hsv)


def contrast(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    means = x.mean(axis=(1, 2), keepdims=True)
    return (x - means) * CONTRAST[severity - 1] + means


def saturate(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    scale, shift = SATURATE[severity - 1]
    hsv = rgb_to_hsv(x)
    hsv[..., 1] = np.clip(hsv[..., 1] * scale + shift, 0, 1)
    return hsv_to_rgb(hsv)


def _affine_to_source(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Per image, the 2x3 matrices A with A @ [dst, 1] = src for three point pairs (n, 3, 2) each.

    Output pixels are pulled from the input, so the warp needs the map from moved points back to the
    original ones."""
    ones = np.ones(dst.shape[:2] + (1,))
    design = np.concatenate((dst, ones), axis=2)  # (n, 3, 3)
    return np.linalg.solve(design, src).transpose(0, 2, 1)  # (n, 2, 3)


def elastic_transform(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    alpha, sigma, affine = ELASTIC[severity - 1]
    n, h, w, _ = x.shape
    scale = spatial_scale(h, w)

    cx, cy = w // 2, h // 2
    d = min(h, w) // 3
    anchors = np.array([[cx + d, cy + d], [cx + d, cy - d], [cx - d, cy - d]], dtype=np.float64)
    moved = anchors + rng.uniform(-affine * scale, affine * scale, size=(n, 3, 2))
    a = torch.from_numpy(_affine_to_source(np.broadcast_to(anchors, moved.shape), moved)).float()
    px, py = pixel_grid(n, h, w)
    sx = a[:, 0, 0, None, None] * px + a[:, 0, 1, None, None] * py + a[:, 0, 2, None, None]
    sy = a[:, 1, 0, None, None] * px + a[:, 1, 1, None, None] * py + a[:, 1, 2, None, None]
    warped = sample_pixels(to_torch(x), sx, sy, padding="reflection")

    if alpha > 0:
        field = torch.from_numpy(rng.uniform(-1, 1, size=(n, 2, h, w)).astype(np.float32))
        # A wide sigma leaves very weak, smooth flow; a narrow one a strong, local wobble.
        field = gaussian_filter(field, sigma * scale, mode="reflect", truncate=3.0)
        field = field * (alpha * scale * noise_blur_gain(sigma, scale, truncate=3.0))
        warped = sample_pixels(warped, px + field[:, 0], py + field[:, 1], padding="reflection")
    return to_numpy(warped)


def _per_image_uint8(x: np.ndarray, fn) -> np.ndarray:
    """Apply a PIL round trip to each image; these codecs have no batched form."""
    pixels = np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)
    out = np.empty_like(pixels)
    for i, img in enumerate(pixels):
        out[i] = np.asarray(fn(Image.fromarray(img)))
    return out.astype(np.float32) / 255


def pixelate(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    h, w = x.shape[1:3]
    factor = PIXELATE[severity - 1]
    small = (max(1, int(w * factor)), max(1, int(h * factor)))
    return _per_image_uint8(x, lambda im: im.resize(small, Image.BOX).resize((w, h), Image.BOX))


def jpeg_compression(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    quality = JPEG_QUALITY[severity - 1]

    def round_trip(im: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        im.save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        return Image.open(buffer).convert("RGB")

    return _per_image_uint8(x, round_trip)
