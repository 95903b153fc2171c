"""Blur corruptions: gaussian, glass, defocus, motion and zoom blur.

Each function takes float32 images (N, H, W, 3) in [0, 1] and returns a float array of the same shape.
Blur sigmas, radii and glass-blur pixel offsets are the published values for 32x32 images multiplied by
``min(H, W) / 32`` so that a larger image gets the same blur relative to its content.

Departures from the reference generator:

* motion blur uses a centred line kernel (see ``_ops.motion_blur_kernels``) where ImageMagick blurs along
  a one-sided trail;
* glass blur visits the interior pixels in the same bottom-right-to-top-left order, but only pixels whose
  whole +-max_delta neighbourhood lies inside the image (the reference can index past the border);
* zoom blur magnifies about the exact image centre with bilinear sampling, where the reference crops an
  integer-sized centre and zooms it with a spline of order 1 (equivalent up to sub-pixel offsets).
"""

from __future__ import annotations

import numpy as np
import torch

from ._ops import (
    centre_zoom,
    convolve_per_image,
    disk_kernel,
    filter2d,
    gaussian_filter,
    motion_blur_kernels,
    spatial_scale,
    to_numpy,
    to_torch,
)

GAUSSIAN_SIGMA = (0.4, 0.6, 0.7, 0.8, 1.0)
GLASS = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))  # (sigma, max_delta, iterations)
DEFOCUS = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1))  # (radius, alias_blur)
MOTION = ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5))  # (radius, sigma)
# The reference builds these with np.arange(1, stop, 0.01), whose float rounding includes the stop value
# for the first two severities only; these are the zoom sets it actually used.
ZOOM_LAST = (1.06, 1.11, 1.15, 1.20, 1.25)


def zoom_factors(severity: int) -> np.ndarray:
    last = ZOOM_LAST[severity - 1]
    return 1 + np.arange(round((last - 1) * 100) + 1) / 100


def gaussian_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma = GAUSSIAN_SIGMA[severity - 1] * spatial_scale(*x.shape[1:3])
    return to_numpy(gaussian_filter(to_torch(x), sigma, mode="nearest"))


def glass_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma, delta, iterations = GLASS[severity - 1]
    n, h, w, _ = x.shape
    scale = spatial_scale(h, w)
    sigma *= scale
    delta = max(1, int(round(delta * scale)))
    blurred = to_numpy(gaussian_filter(to_torch(x), sigma, mode="nearest"))
    # The reference stores the first blur as 8-bit before shuffling; keep that quantisation.
    img = np.rint(np.clip(blurred, 0, 1) * 255).astype(np.uint8)

    rows = range(h - 1 - delta, delta - 1, -1)
    cols = range(w - 1 - delta, delta - 1, -1)
    if len(rows) and len(cols):
        # Pack RGB into one integer so each swap moves a single element of a flat array.
        packed = img[..., 0].astype(np.int32) | img[..., 1].astype(np.int32) << 8 | img[..., 2].astype(np.int32) << 16
        flat = packed.reshape(-1)
        base = np.arange(n) * (h * w)
        dy, dx = rng.integers(-delta, delta + 1, size=(2, iterations, len(rows), len(cols), n))
        jump = dy * w + dx
        # Swaps are sequential (a pixel moved once can be moved again further on), so loop over positions
        # and vectorise over the images instead.
        for it in range(iterations):
            for i, r in enumerate(rows):
                for j, c in enumerate(cols):
                    here = base + (r * w + c)
                    there = here + jump[it, i, j]
                    moving = flat[here]
                    flat[here] = flat[there]
                    flat[there] = moving
        img = np.stack((packed & 255, packed >> 8 & 255, packed >> 16), axis=-1).astype(np.uint8)
    shuffled = to_torch(img.astype(np.float32) / 255)
    return to_numpy(gaussian_filter(shuffled, sigma, mode="nearest"))


def defocus_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    radius, alias_blur = DEFOCUS[severity - 1]
    scale = spatial_scale(*x.shape[1:3])
    kernel = disk_kernel(radius * scale, alias_blur * scale, blur_half=max(1, int(round(scale))))
    return to_numpy(filter2d(to_torch(x), kernel, mode="mirror"))


def motion_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    radius, sigma = MOTION[severity - 1]
    scale = spatial_scale(*x.shape[1:3])
    angles = rng.uniform(-45, 45, size=len(x))
    kernels = motion_blur_kernels(radius * scale, sigma * scale, angles)
    return to_numpy(convolve_per_image(to_torch(x), kernels, mode="nearest"))


def zoom_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    t = to_torch(x)
    factors = zoom_factors(severity)
    total = t.clone()
    with torch.no_grad():
        for z in factors:
            total += centre_zoom(t, float(z))
    return to_numpy(total / (len(factors) + 1))
