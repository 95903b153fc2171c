"""Shared building blocks for the corruption modules: filters, kernels, resampling and colour spaces.

Images travel between numpy (N, H, W, 3) float32 arrays in [0, 1] and torch (N, C, H, W) tensors. Filtering
runs in torch so the same code can later run on a GPU (except ``sum_shifted``, see there); all randomness stays
in numpy so that results depend only on the caller's ``np.random.Generator``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.ndimage
import torch
import torch.nn.functional as F

REFERENCE_SIZE = 32  # the image side for which the published pixel parameters were chosen


def spatial_scale(height: int, width: int) -> float:
    """Factor applied to every parameter that the reference gives in pixels of a 32x32 image."""
    return min(height, width) / REFERENCE_SIZE


def to_torch(x: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) numpy -> (N, C, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(0, 3, 1, 2).contiguous()


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) tensor -> (N, H, W, C) float32 numpy."""
    return t.permute(0, 2, 3, 1).contiguous().cpu().numpy()


# ---------------------------------------------------------------------------------------------- axis maps
#
# Padding, separable filtering and separable resampling are all linear maps along one axis, so each is
# written as a small (n_out, n_in) matrix and applied with a matrix product. On a CPU this is an order of
# magnitude faster than conv2d on single-channel planes, works for pad widths larger than the image, and
# runs unchanged on a GPU.


def _border_index(n: int, before: int, after: int, mode: str) -> torch.Tensor:
    """Source indices for padding one axis of length n."""
    idx = torch.arange(-before, n + after)
    if mode == "nearest":  # a a a | a b c d | d d d
        return idx.clamp(0, n - 1)
    if mode == "reflect":  # b a | a b c d | d c  (mirror about the pixel edge)
        idx = idx % (2 * n)
        return torch.where(idx >= n, 2 * n - 1 - idx, idx)
    if mode == "mirror":  # c b | a b c d | c b  (mirror about the edge pixel's centre)
        if n == 1:
            return torch.zeros_like(idx)
        idx = idx % (2 * n - 2)
        return torch.where(idx >= n, 2 * n - 2 - idx, idx)
    raise ValueError(f"unknown border mode {mode!r}")


def filter_matrix(n: int, kernel: torch.Tensor, mode: str) -> torch.Tensor:
    """(n, n) matrix that correlates an axis of length n with an odd 1-D kernel, borders by ``mode``."""
    r = kernel.numel() // 2
    source = _border_index(n, r, r, mode)
    rows = torch.arange(n)
    m = torch.zeros(n, n)
    for t in range(kernel.numel()):
        m.index_put_((rows, source[rows + t]), kernel[t].expand(n), accumulate=True)
    return m


def apply_axes(t: torch.Tensor, rows: torch.Tensor | None, cols: torch.Tensor | None) -> torch.Tensor:
    """rows @ plane @ cols.T for every (H, W) plane of t; None leaves that axis alone."""
    if rows is not None:
        t = rows.to(t.device) @ t
    if cols is not None:
        t = t @ cols.to(t.device).T
    return t


def pad2d(t: torch.Tensor, pad_h: int, pad_w: int, mode: str) -> torch.Tensor:
    """Pad the last two axes symmetrically by (pad_h, pad_w); any width, even wider than the image."""

    def one_hot(n: int, pad: int) -> torch.Tensor | None:
        if not pad:
            return None
        return torch.nn.functional.one_hot(_border_index(n, pad, pad, mode), n).float()

    return apply_axes(t, one_hot(t.shape[-2], pad_h), one_hot(t.shape[-1], pad_w))


# ---------------------------------------------------------------------------------------------- filters


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> torch.Tensor:
    radius = int(truncate * sigma + 0.5)
    if sigma <= 0 or radius == 0:
        return torch.ones(1)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).float()


def gaussian_filter(t: torch.Tensor, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> torch.Tensor:
    """Separable Gaussian blur of every (H, W) plane of a (..., H, W) tensor."""
    k = gaussian_kernel1d(sigma, truncate)
    if k.numel() == 1:
        return t
    h, w = t.shape[-2:]
    return apply_axes(t, filter_matrix(h, k, mode), filter_matrix(w, k, mode))


def noise_blur_gain(sigma: float, scale: float, truncate: float = 4.0) -> float:
    """Factor that gives white noise blurred with sigma * scale the standard deviation it has when
    blurred with sigma.

    Blurring noise with a wider kernel also flattens it, so merely scaling sigma with the image would
    make thresholded blobs (spatter) rarer and smoothed displacement fields (elastic) weaker on larger
    images; this factor keeps their statistics those of the 32x32 reference, only spatially stretched."""
    narrow, wide = gaussian_kernel1d(sigma, truncate), gaussian_kernel1d(sigma * scale, truncate)
    return float((narrow.norm() / wide.norm()) ** 2)  # squared: the blur is applied along both axes


def filter2d(t: torch.Tensor, kernel: np.ndarray, mode: str = "mirror") -> torch.Tensor:
    """Correlate every (H, W) plane of a (..., H, W) tensor with one small odd 2-D kernel.

    The kernel is split by SVD into a sum of separable (rank-1) kernels, each applied as two axis
    matrices; the small kernels used here have rank 1 to 3, so this is exact and fast."""
    u, s, vt = np.linalg.svd(np.asarray(kernel, dtype=np.float64))
    h, w = t.shape[-2:]
    out = torch.zeros_like(t)
    for i in np.flatnonzero(s > 1e-7 * s[0]):
        col = torch.from_numpy(u[:, i] * s[i]).float()
        row = torch.from_numpy(vt[i]).float()
        out += apply_axes(t, filter_matrix(h, col, mode), filter_matrix(w, row, mode))
    return out


def convolve_per_image(t: torch.Tensor, kernels: np.ndarray, mode: str = "nearest") -> torch.Tensor:
    """Convolve image i of an (N, C, H, W) tensor with its own odd, square kernel kernels[i].

    A direct grouped convolution with a different large kernel per image is slow on CPUs; the FFT costs
    the same whatever the kernel size. Padding by the kernel radius first means the circular wrap-around
    of the FFT only touches the padding, which is cropped away again.
    """
    n, c, h, w = t.shape
    k = torch.from_numpy(np.ascontiguousarray(kernels, dtype=np.float32)).to(t.device)
    r = k.shape[-1] // 2
    if r == 0:
        return t * k.view(n, 1, 1, 1)
    padded = pad2d(t, r, r, mode)
    ph, pw = padded.shape[-2:]
    # Place each kernel's centre at (0, 0) so that the FFT product is a centred convolution.
    kfull = torch.zeros(n, ph, pw, device=t.device)
    kfull[:, : 2 * r + 1, : 2 * r + 1] = k
    kfull = torch.roll(kfull, shifts=(-r, -r), dims=(1, 2))
    spectrum = torch.fft.rfft2(padded) * torch.fft.rfft2(kfull)[:, None]
    out = torch.fft.irfft2(spectrum, s=(ph, pw))
    return out[..., r : r + h, r : r + w]


# ---------------------------------------------------------------------------------------------- kernels


def motion_blur_kernels(radius: float, sigma: float, angles_deg: np.ndarray) -> np.ndarray:
    """One line kernel per angle, shape (len(angles), 2R+1, 2R+1) with R = floor(radius).

    Taps sit one pixel apart along the line through the centre, weighted by a Gaussian of the distance
    to the centre, and are splatted bilinearly onto the pixel grid; each kernel sums to 1. The line is
    centred (point-symmetric). The motion_blur corruption uses ImageMagick's one-sided trail instead
    (:func:`magick_motion_taps`); this kernel serves the snow layer and the frost substitute.
    """
    angles = np.atleast_1d(np.asarray(angles_deg, dtype=np.float64))
    half = int(math.floor(radius))
    size = 2 * half + 1
    taps = np.arange(-half, half + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (taps / sigma) ** 2) if sigma > 0 else (taps == 0).astype(np.float64)
    theta = np.deg2rad(angles)[:, None]
    # Image rows grow downwards, so a positive angle points up and to the right.
    xs = taps[None, :] * np.cos(theta) + half
    ys = -taps[None, :] * np.sin(theta) + half
    x0, y0 = np.floor(xs), np.floor(ys)
    fx, fy = xs - x0, ys - y0
    kernels = np.zeros((len(angles), size, size))
    batch = np.broadcast_to(np.arange(len(angles))[:, None], xs.shape)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            # A neighbour that falls just outside the grid always carries weight 0, so clamping is exact.
            yi = np.clip(y0 + dy, 0, size - 1).astype(np.intp)
            xi = np.clip(x0 + dx, 0, size - 1).astype(np.intp)
            np.add.at(kernels, (batch, yi, xi), weights[None, :] * wy * wx)
    return kernels / kernels.sum(axis=(1, 2), keepdims=True)


def motion_blur_kernel(radius: float, sigma: float, angle_deg: float) -> np.ndarray:
    return motion_blur_kernels(radius, sigma, np.array([angle_deg]))[0]


# ImageMagick's MotionBlurImage, which the reference generator calls through Wand, written from the
# published description of its algorithm and checked against its output (docs/corruptions.md): a one-sided
# Gaussian trail of ``width`` taps, tap i read at the pixel nearest to i pixels along the angle, pixels
# outside the image repeating the nearest edge pixel.

MAGICK_EPSILON = 1e-12  # ImageMagick's MagickEpsilon
MAGICK_QUANTUM_SCALE = 1 / 65535  # 1 / QuantumRange of the Q16 build


def magick_kernel_width(radius: float, sigma: float) -> int:
    """ImageMagick's optimal 1-D kernel width: 2*ceil(radius)+1 for a positive radius. For radius 0 it
    grows an odd width from 5 until the normalised Gaussian's edge tap drops below 1/65535 (imperceptible
    in 16 bits) and returns the width before that, at least 3."""
    if radius > MAGICK_EPSILON:
        return int(2 * math.ceil(radius) + 1)
    sigma = abs(sigma)
    if sigma <= MAGICK_EPSILON:
        return 3
    width = 5
    while True:
        j = (width - 1) // 2
        g = np.exp(-(np.arange(-j, j + 1, dtype=np.float64) ** 2) / (2 * sigma * sigma))
        if g[-1] / g.sum() < max(MAGICK_QUANTUM_SCALE, MAGICK_EPSILON):
            return width - 2
        width += 2


def magick_motion_taps(
    radius: float, sigma: float, angles_deg: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights (K,) and integer offsets dx, dy (len(angles), K) of ImageMagick's motion blur.

    Output pixel (x, y) is sum_i weights[i] * input(x + dx[i], y + dy[i]) with y growing downwards: tap 0
    is the pixel itself, so the trail is one-sided, unlike :func:`motion_blur_kernels`. The weights are
    a Gaussian of the tap index, normalised to sum to 1."""
    width = magick_kernel_width(radius, sigma)
    i = np.arange(width, dtype=np.float64)
    s = max(abs(sigma), MAGICK_EPSILON)
    weights = np.exp(-(i * i) / (2 * s * s))
    weights /= weights.sum()
    # The same floating-point expressions as ImageMagick, so that offsets agree at exact half-pixel ties.
    theta = math.pi * np.atleast_1d(np.asarray(angles_deg, dtype=np.float64))[:, None] / 180
    px, py = width * np.sin(theta), width * np.cos(theta)
    norm = np.hypot(px, py)
    dx = np.ceil(i * py / norm - 0.5).astype(np.int64)  # ceil(v - 0.5): rounds halves down
    dy = np.ceil(i * px / norm - 0.5).astype(np.int64)
    return weights, dx, dy


def sum_shifted(x: np.ndarray, weights: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """out[n, y, x] = sum_k weights[k] * x[n, y + dy[n, k], x + dx[n, k]] for (N, H, W, C) numpy images,
    reading outside the image at the nearest edge pixel (ImageMagick's default "edge" virtual pixels).

    Exact shifts of an edge-padded copy rather than an FFT convolution. Random angles give only a few
    hundred distinct offset patterns, so images are grouped by pattern and each group is summed from
    plain slices. This is numpy, not torch: thousands of small operations, which torch's thread pool
    turns into a 50-100x slowdown whenever the cores are shared with other processes."""
    n, h, w, _ = x.shape
    dx, dy = np.asarray(dx), np.asarray(dy)
    r = int(max(np.abs(dx).max(initial=0), np.abs(dy).max(initial=0)))
    padded = np.pad(x, ((0, 0), (r, r), (r, r), (0, 0)), mode="edge")
    patterns, group = np.unique(np.concatenate((dx, dy), axis=1), axis=0, return_inverse=True)
    group = group.reshape(-1)
    out = np.empty_like(x)
    for g, pattern in enumerate(patterns):
        members = np.flatnonzero(group == g)
        source = padded[members]
        # Taps that land on the same pixel (steep angles, long trails) are read once.
        merged: dict[tuple[int, int], float] = {}
        for k, weight in enumerate(np.asarray(weights, dtype=np.float64)):
            offset = (int(pattern[len(weights) + k]), int(pattern[k]))
            merged[offset] = merged.get(offset, 0.0) + float(weight)
        acc = np.zeros((len(members),) + x.shape[1:], dtype=x.dtype)
        for (oy, ox), weight in merged.items():
            acc += weight * source[:, r + oy : r + oy + h, r + ox : r + ox + w]
        out[members] = acc
    return out


def disk_kernel(radius: float, alias_blur: float, blur_half: int = 1) -> np.ndarray:
    """Anti-aliased disk: the pixels within ``radius`` of the centre, smoothed by a small Gaussian
    (a (2*blur_half+1)^2 window of sigma ``alias_blur``) to soften the staircase edge; sums to 1."""
    half = int(math.ceil(radius)) + blur_half
    ax = np.arange(-half, half + 1, dtype=np.float64)
    disk = (ax[None, :] ** 2 + ax[:, None] ** 2 <= radius**2).astype(np.float64)
    g = np.exp(-0.5 * (np.arange(-blur_half, blur_half + 1) / max(alias_blur, 1e-6)) ** 2)
    g /= g.sum()
    smooth = np.zeros_like(disk)
    # The disk is surrounded by blur_half zeros, so the shifted copies never wrap real weight around.
    for i, gy in enumerate(g):
        for j, gx in enumerate(g):
            smooth += gy * gx * np.roll(disk, (i - blur_half, j - blur_half), axis=(0, 1))
    return smooth / smooth.sum()


# ---------------------------------------------------------------------------------------------- resampling


def pixel_grid(n: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates (x, y), each of shape (n, h, w)."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    return xs.expand(n, h, w), ys.expand(n, h, w)


def sample_pixels(t: torch.Tensor, x: torch.Tensor, y: torch.Tensor, padding: str = "reflection") -> torch.Tensor:
    """Bilinearly sample t (N, C, H, W) at pixel coordinates x, y (N, H', W'); pixel centres are integers.

    With align_corners=True, torch's "reflection" padding mirrors about the edge pixels' centres."""
    h, w = t.shape[-2:]
    gx = 2 * x / max(w - 1, 1) - 1
    gy = 2 * y / max(h - 1, 1) - 1
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(t, grid, mode="bilinear", padding_mode=padding, align_corners=True)


def zoom_matrix(n: int, zoom: float) -> torch.Tensor:
    """(n, n) linear-interpolation matrix magnifying an axis of length n about its centre; edges clamp.

    Used by the snow layer; zoom_blur follows the reference's integer crop instead (clipped_zoom_matrix)."""
    centre = (n - 1) / 2
    src = (centre + (torch.arange(n, dtype=torch.float64) - centre) / zoom).clamp(0, n - 1)
    left = src.floor().long().clamp(max=n - 1)
    frac = (src - left).float()
    rows = torch.arange(n)
    m = torch.zeros(n, n)
    m.index_put_((rows, left), 1 - frac, accumulate=True)
    m.index_put_((rows, (left + 1).clamp(max=n - 1)), frac, accumulate=True)
    return m


def centre_zoom(t: torch.Tensor, zoom: float) -> torch.Tensor:
    """Magnify the centre of every (H, W) plane by ``zoom`` (>= 1), keeping the size; bilinear."""
    if zoom == 1:
        return t
    h, w = t.shape[-2:]
    return apply_axes(t, zoom_matrix(h, zoom), zoom_matrix(w, zoom))


@functools.lru_cache(maxsize=256)
def clipped_zoom_matrix(n: int, zoom: float) -> np.ndarray:
    """(n, n) float64 matrix of the reference generator's ``clipped_zoom`` along one axis of length n.

    The reference crops the central ceil(n / zoom) pixels (top index (n - crop) // 2), magnifies them with
    ``scipy.ndimage.zoom(..., order=1)`` to round(crop * zoom) pixels, and keeps n of those from index
    (magnified - n) // 2. Every step is linear, and order-1 zoom is separable, so zooming an identity
    matrix along its first axis yields scipy's own interpolation weights: A @ plane @ B.T then equals
    the reference's 2-D zoom up to floating-point rounding, and is a cheap matrix product per plane."""
    crop = math.ceil(n / zoom)
    top = (n - crop) // 2
    magnified = scipy.ndimage.zoom(np.eye(crop), (zoom, 1), order=1)
    trim = (len(magnified) - n) // 2
    m = np.zeros((n, n))
    m[:, top : top + crop] = magnified[trim : trim + n]
    m.flags.writeable = False  # cached and shared
    return m


# ---------------------------------------------------------------------------------------------- colour


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB in [0, 1] -> HSV with all three channels in [0, 1] (hue as a fraction of a turn)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    vmax = rgb.max(axis=-1)
    delta = vmax - rgb.min(axis=-1)
    grey = delta == 0
    safe = np.where(grey, 1, delta)
    sat = np.where(vmax > 0, delta / np.where(vmax > 0, vmax, 1), 0)
    hue = np.where(vmax == r, (g - b) / safe, np.where(vmax == g, 2 + (b - r) / safe, 4 + (r - g) / safe))
    hue = np.where(grey, 0, (hue / 6) % 1)
    return np.stack((hue, sat, vmax), axis=-1).astype(rgb.dtype, copy=False)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_hsv`."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    h6 = (h % 1) * 6
    sector = np.floor(h6).astype(np.intp) % 6
    f = h6 - np.floor(h6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    # For each hue sector, which of (v, t, p, q) lands in R, G and B.
    table = np.array([[0, 1, 2], [3, 0, 2], [2, 0, 1], [2, 3, 0], [1, 2, 0], [0, 2, 3]])
    candidates = np.stack((v, t, p, q), axis=-1)
    return np.take_along_axis(candidates, table[sector], axis=-1).astype(hsv.dtype, copy=False)


def rgb_to_grey(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma, the weights OpenCV's RGB2GRAY uses; keeps a trailing axis of 1."""
    # Written out rather than as a matrix product: numpy's BLAS threads would otherwise keep spinning
    # after the call and compete with torch's threads for the cores.
    return 0.299 * rgb[..., 0:1] + 0.587 * rgb[..., 1:2] + 0.114 * rgb[..., 2:3]
