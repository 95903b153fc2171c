"""Shared building blocks for the corruption modules: filters, kernels, resampling and colour spaces.

Images travel between numpy (N, H, W, 3) float32 arrays in [0, 1] and torch (N, C, H, W) tensors. All
filtering runs in torch so the same code can later run on a GPU; all randomness stays in numpy so that
results depend only on the caller's ``np.random.Generator``.
"""

from __future__ import annotations

import math

import numpy as np
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
    centred (point-symmetric), unlike ImageMagick's one-sided trail used by the reference generator.
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
    """(n, n) linear-interpolation matrix magnifying an axis of length n about its centre; edges clamp."""
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
