"""Weather corruptions: snow, fog and spatter (frost lives in ``frost.py``).

Each function takes float32 images (N, H, W, 3) in [0, 1] and returns an unclipped float array of the
same shape. Pixel-sized parameters (snow flake zoom and streak length, spatter blur) are the published
32x32 values multiplied by ``min(H, W) / 32``; the fog fractal is generated at the next power of two
that covers the image, so its coarse structure spans the image at any size.

Spatter is an approximation, not a port. Both variants start, like the reference, from Gaussian noise
N(mean, std) smoothed with a Gaussian of the given sigma and zeroed below the threshold, which leaves
irregular blobs. On images larger than 32x32 the smoothed noise is rescaled to keep its 32x32 spread
(see ``_ops.noise_blur_gain``), so the blobs cover the same fraction of the image, only larger.

* Water (severities 1-3): the reference shades each drop with an equalised, embossed distance-to-edge
  map. Here the drop's depth is the wet mask blurred (larger towards the middle of a drop) plus a
  highlight where depth rises towards the bottom right (a light from the top left). The liquid
  value times this shading, scaled so its per-image maximum equals the intensity, adds pale
  turquoise (175, 238, 238).
* Mud (severities 4-5): the blob mask blurred with sigma = intensity, kept where >= 0.8 (solid cores
  with soft rims), replaces the image by brown (63, 42, 20) in proportion, as in the reference.
"""

from __future__ import annotations

import numpy as np
import torch

from ._ops import (
    centre_zoom,
    convolve_per_image,
    filter2d,
    gaussian_filter,
    motion_blur_kernels,
    noise_blur_gain,
    rgb_to_grey,
    spatial_scale,
    to_numpy,
    to_torch,
)

# (noise mean, noise std, zoom, threshold, streak radius, streak sigma, image blend)
SNOW = (
    (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
    (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
    (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
    (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
    (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
)
FOG = ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75))  # (strength, wibble decay)
# (noise mean, noise std, sigma, threshold, intensity, mud)
SPATTER = (
    (0.62, 0.1, 0.7, 0.7, 0.5, 0),
    (0.65, 0.1, 0.8, 0.7, 0.5, 0),
    (0.65, 0.3, 1, 0.69, 0.5, 0),
    (0.65, 0.1, 0.7, 0.69, 0.6, 1),
    (0.65, 0.1, 0.5, 0.68, 0.6, 1),
)
WATER_RGB = np.array([175, 238, 238], dtype=np.float32) / 255
MUD_RGB = np.array([63, 42, 20], dtype=np.float32) / 255


def snow(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    mean, std, zoom, threshold, radius, sigma, blend = SNOW[severity - 1]
    n, h, w, _ = x.shape
    scale = spatial_scale(h, w)
    flakes = to_torch(rng.normal(mean, std, size=(n, h, w, 1)).astype(np.float32))
    # Zooming the noise makes flakes bigger than a pixel; below a factor of 1 there is nothing to zoom.
    flakes = centre_zoom(flakes, max(1.0, zoom * scale))
    flakes = torch.where(flakes < threshold, torch.zeros(()), flakes).clamp(0, 1)
    # Falling snow streaks roughly vertically.
    angles = rng.uniform(-135, -45, size=n)
    flakes = convolve_per_image(flakes, motion_blur_kernels(radius * scale, sigma * scale, angles))
    layer = to_numpy(flakes)
    # Overcast light: lift dark pixels towards a brightened grey version of the image.
    x = blend * x + (1 - blend) * np.maximum(x, rgb_to_grey(x) * 1.5 + 0.5)
    # A second copy of the layer turned by 180 degrees doubles the flake density.
    return x + layer + layer[:, ::-1, ::-1]


def plasma_fractal(n: int, size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """n toroidal diamond-square fractals of shape (size, size), size a power of two, scaled to [0, 1].

    Every new point is the mean of its four neighbours plus uniform noise whose amplitude falls by a
    factor decay**2 per octave: the reference multiplies its noise by the already-decayed amplitude
    once more, and that squared fall-off is what gives the published fog its broad, smooth patches.
    """
    if size & (size - 1):
        raise ValueError(f"plasma fractal size must be a power of two, got {size}")
    maps = np.zeros((n, size, size))
    amplitude = 1.0
    step = size
    while step >= 2:
        half = step // 2
        corners = maps[:, ::step, ::step]
        # Square step: the centre of each cell from its four corners.
        s = corners + np.roll(corners, -1, axis=1)
        s = s + np.roll(s, -1, axis=2)
        maps[:, half::step, half::step] = s / 4 + rng.uniform(-amplitude, amplitude, size=s.shape)
        centres = maps[:, half::step, half::step]
        # Diamond step: each edge midpoint from the two corners on the edge and the cell centres either side.
        top = corners + np.roll(corners, -1, axis=2) + centres + np.roll(centres, 1, axis=1)
        maps[:, ::step, half::step] = top / 4 + rng.uniform(-amplitude, amplitude, size=top.shape)
        left = corners + np.roll(corners, -1, axis=1) + centres + np.roll(centres, 1, axis=2)
        maps[:, half::step, ::step] = left / 4 + rng.uniform(-amplitude, amplitude, size=left.shape)
        step = half
        amplitude /= decay**2
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def fog(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    strength, decay = FOG[severity - 1]
    n, h, w, _ = x.shape
    size = max(2, 1 << (max(h, w) - 1).bit_length())
    haze = plasma_fractal(n, size, decay, rng)[:, :h, :w, None].astype(np.float32)
    peak = x.max(axis=(1, 2, 3), keepdims=True)
    # Rescaling keeps the brightest fogged pixels near the clean image's peak instead of saturating.
    return (x + strength * haze) * (peak / (peak + strength))


def spatter(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    mean, std, sigma, threshold, intensity, mud = SPATTER[severity - 1]
    n, h, w, _ = x.shape
    scale = spatial_scale(h, w)
    noise = torch.from_numpy(rng.standard_normal((n, 1, h, w), dtype=np.float32))
    smooth = gaussian_filter(noise, sigma * scale, mode="nearest") * noise_blur_gain(sigma, scale)
    liquid = mean + std * smooth
    liquid = torch.where(liquid < threshold, torch.zeros(()), liquid)
    if mud:
        blobs = gaussian_filter((liquid > threshold).float(), intensity * scale, mode="nearest")
        blobs = to_numpy(torch.where(blobs < 0.8, torch.zeros(()), blobs))
        return x * (1 - blobs) + blobs * MUD_RGB
    wet = (liquid > 0).float()
    depth = gaussian_filter(wet, scale, mode="nearest") * wet
    slope = filter2d(depth, np.array([[-1, 0, 0], [0, 0, 0], [0, 0, 1]]), mode="nearest")
    shade = liquid * (depth + 0.5 * slope.clamp(min=0))
    peak = shade.amax(dim=(1, 2, 3), keepdim=True)
    shade = shade / torch.where(peak > 0, peak, torch.ones(())) * intensity
    return x + to_numpy(shade) * WATER_RGB
