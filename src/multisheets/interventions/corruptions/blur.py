"""Blur corruptions: gaussian, glass, defocus, motion and zoom blur.

Each function takes float32 images (N, H, W, 3) in [0, 1] and returns a float array of the same shape.
Blur sigmas, radii and glass-blur pixel offsets are the published values for 32x32 images multiplied by
``min(H, W) / 32`` so that a larger image gets the same blur relative to its content.

Zoom blur is the reference's own algorithm (integer centre crop, scipy order-1 zoom, integer trim, the
same zoom-factor floats): on the 10,000 CIFAR-10 test images it matches a literal transcription to about
1e-5 grey levels on average, differing only at exact half-level ties. Motion blur is ImageMagick's
MotionBlurImage algorithm, which the reference calls through Wand: against ImageMagick 6.9.11 its values
agree to ImageMagick's 16-bit quantisation (at most 0.002 grey levels); the 8-bit outputs differ by 0.49
grey levels on average (never more than 1) because that ImageMagick truncates to 8 bits and we round.
Numbers and method: docs/corruptions.md.

Departures from the reference generator:

* glass blur visits the interior pixels in the same bottom-right-to-top-left order, but only pixels whose
  whole +-max_delta neighbourhood lies inside the image (the reference can index past the border);
* zoom blur on non-square images crops and zooms each axis by its own length (the reference, written for
  square images, uses the height for both).
"""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np
import torch

from ._ops import (
    clipped_zoom_matrix,
    disk_kernel,
    filter2d,
    gaussian_filter,
    magick_motion_taps,
    spatial_scale,
    sum_shifted,
    to_numpy,
    to_torch,
)

GAUSSIAN_SIGMA = (0.4, 0.6, 0.7, 0.8, 1.0)
GLASS = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))  # (sigma, max_delta, iterations)
DEFOCUS = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1))  # (radius, alias_blur)
# (radius, sigma). The radius only sets the trail's length: at sigma 2 the taps past 12 px weigh < 1e-7, so
# severities 3 and 4 give the same images, in the reference too.
MOTION = ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5))
# The reference builds these with np.arange(1, stop, 0.01), whose float rounding includes the stop value
# for the first two severities only; these are the zoom sets it actually used.
ZOOM_LAST = (1.06, 1.11, 1.15, 1.20, 1.25)


def zoom_factors(severity: int) -> np.ndarray:
    """The reference's zoom factors, bit for bit: np.arange's values are 1 + i * (1.01 - 1), not 1 + i / 100,
    and the last bit matters (26 * 1.25 = 32.5 rounds to a 32-pixel zoom, 26 * 1.2500000000000002 to 33)."""
    last = ZOOM_LAST[severity - 1]
    return np.arange(1, last + 0.005, 0.01)  # numpy's values depend on start and step only


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
    weights, dx, dy = magick_motion_taps(radius * scale, sigma * scale, angles)
    return sum_shifted(x, weights, dx, dy)


DENSE_ZOOM_PIXELS = 32 * 32  # up to this many pixels a plane, zoom blur is one dense matrix product


def _zoom_terms(h: int, w: int, severity: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(count, row matrix, column matrix) of the clipped zooms of one severity, identical ones merged:
    scipy's zoom depends only on the crop and magnified sizes, so neighbouring factors often coincide
    (26 factors give 14 distinct zooms on 32 pixels)."""
    counts: Counter[bytes] = Counter()
    pairs: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
    for z in zoom_factors(severity):
        rows, cols = clipped_zoom_matrix(h, float(z)), clipped_zoom_matrix(w, float(z))
        key = rows.tobytes() + cols.tobytes()
        pairs[key] = (rows, cols)
        counts[key] += 1
    return [(counts[key], rows, cols) for key, (rows, cols) in pairs.items()]


@functools.lru_cache(maxsize=8)
def _dense_zoom_operator(h: int, w: int, severity: int) -> torch.Tensor:
    """(H*W, H*W) float64 matrix of the whole zoom blur on a row-major flattened plane: the identity (the
    original image) plus each zoom R X C^T as the Kronecker product R (x) C, divided by the count."""
    op = np.eye(h * w)
    for count, rows, cols in _zoom_terms(h, w, severity):
        op += count * np.kron(rows, cols)
    return torch.from_numpy(op / (len(zoom_factors(severity)) + 1))


def zoom_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """(x + sum over factors z of clipped_zoom(x, z)) / (number of factors + 1), as the reference."""
    t = to_torch(x).double()  # float64 like the reference, so that rounding to 8 bits agrees with it
    n, c, h, w = t.shape
    if h * w <= DENSE_ZOOM_PIXELS:
        # One (N*C, H*W) x (H*W, H*W) product is several times faster here than 2 small products per zoom.
        out = (t.reshape(n * c, h * w) @ _dense_zoom_operator(h, w, severity).T).reshape(n, c, h, w)
    else:
        out = t.clone()
        for count, rows, cols in _zoom_terms(h, w, severity):
            out += count * (torch.tensor(rows) @ t @ torch.tensor(cols).T)
        out /= len(zoom_factors(severity)) + 1
    # Returned in float64: the caller's rounding to 8 bits then sees the reference's values.
    return to_numpy(out)
