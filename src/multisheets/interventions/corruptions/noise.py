"""Per-pixel noise corruptions: gaussian, shot (Poisson), impulse (salt and pepper) and speckle noise.

Each function takes float32 images (N, H, W, 3) in [0, 1] and returns an unclipped float array of the
same shape. Noise is drawn independently per pixel and channel, so nothing here depends on image size.
"""

from __future__ import annotations

import numpy as np

GAUSSIAN_SIGMA = (0.04, 0.06, 0.08, 0.09, 0.10)
SHOT_LAMBDA = (500, 250, 100, 75, 50)
IMPULSE_AMOUNT = (0.01, 0.02, 0.03, 0.05, 0.07)
SPECKLE_SIGMA = (0.06, 0.10, 0.12, 0.16, 0.20)


def gaussian_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return x + GAUSSIAN_SIGMA[severity - 1] * rng.standard_normal(x.shape, dtype=np.float32)


def shot_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    # Photon counting: a pixel of brightness x collects Poisson(x * lam) photons; fewer photons, more noise.
    lam = SHOT_LAMBDA[severity - 1]
    return (rng.poisson(x * lam) / lam).astype(np.float32)


def impulse_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    # Each channel value independently turns white or black (half each) with probability `amount`.
    amount = IMPULSE_AMOUNT[severity - 1]
    u = rng.random(x.shape, dtype=np.float32)
    out = np.where(u < amount / 2, np.float32(1), x)
    return np.where((u >= amount / 2) & (u < amount), np.float32(0), out)


def speckle_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    # Multiplicative: brighter pixels get proportionally more noise.
    return x + x * (SPECKLE_SIGMA[severity - 1] * rng.standard_normal(x.shape, dtype=np.float32))
