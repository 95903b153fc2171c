"""One image size for a whole study (`data.image_size`, `data.resize`): every image of every source is resized in
the data stage, so that training, every intervention and every extra test set see images of that size.

Resizing is Pillow's, on the uint8 images, to ``image_size x image_size`` (a non-square image is stretched, not
cropped: nothing of it is lost). Pillow's `bilinear`, `bicubic` and `lanczos` filters widen with the reduction
factor when they shrink an image, so each output pixel averages every input pixel under it (antialiased, as
torchvision's ``Resize(antialias=True)``) instead of sampling a few and aliasing fine detail; `area` is a box
filter (the mean of the input pixels an output pixel covers, OpenCV's INTER_AREA); `nearest` copies one pixel and
does not filter. `bilinear` is the default: smooth, antialiased and without the over- and undershoot that
`bicubic` and `lanczos` add at edges. Images already of the requested size are kept as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

RESIZE_METHODS: dict[str, Image.Resampling] = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "area": Image.Resampling.BOX,
    "nearest": Image.Resampling.NEAREST,
}
DEFAULT_RESIZE = "bilinear"


def resize_image(image: np.ndarray, size: int, method: str = DEFAULT_RESIZE) -> np.ndarray:
    """One uint8 (H, W, 3) image as uint8 (size, size, 3)."""
    if image.shape[:2] == (size, size):
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), RESIZE_METHODS[method]))


def resize_images(images: np.ndarray, size: int, method: str = DEFAULT_RESIZE) -> np.ndarray:
    """uint8 (N, H, W, 3) images as uint8 (N, size, size, 3), one at a time (no float copy of the whole set)."""
    if images.shape[1:3] == (size, size):
        return images
    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for index, image in enumerate(images):
        out[index] = resize_image(image, size, method)
    return out


def resizing(data: dict[str, Any]) -> dict[str, Any] | None:
    """A study's resizing, as ``dataset.json`` records it: ``{"image_size", "method"}``, or None (sizes kept)."""
    if data.get("image_size") is None:
        return None
    return {"image_size": int(data["image_size"]), "method": data.get("resize", DEFAULT_RESIZE)}


def image_fitter(resize: dict[str, Any] | None) -> Callable[[np.ndarray], np.ndarray] | None:
    """The function that resizes one image as `resize` (see `resizing`) says, or None where sizes are kept."""
    if resize is None:
        return None
    return lambda image: resize_image(image, resize["image_size"], resize["method"])
