"""Extra labelled test sets for the shift family, in a study's label space and image size: CIFAR-10.1 or an image
folder. Where the study resizes its images (``dataset.json``'s `resize`), a shift set is resized the same way, so
that its images are what the study's models read; otherwise they must already have the study's size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from multisheets.data.arrays import DataError, LabelledImages
from multisheets.data.imagefolder import decode_image, image_files
from multisheets.data.resize import image_fitter, resize_images

CIFAR10_1_URL = "https://raw.githubusercontent.com/modestyachts/CIFAR-10.1/master/datasets/cifar10.1_v6_{}.npy"


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def read_shift_set(name: str, sources: list[str], info: dict[str, Any], download_dir: str | Path) -> LabelledImages:
    """An extra labelled test set in this study's label space: CIFAR-10.1 (v6) or an ImageFolder of class folders."""
    resize = info.get("resize")  # absent from the dataset.json of data prepared before it existed: not resized
    if name == "cifar10_1":
        from torchvision.datasets.utils import download_url

        if info["classes"] != CIFAR10_CLASSES:
            raise DataError(f"shift set cifar10_1 needs the CIFAR-10 classes, this study has {info['classes']}")
        arrays = {}
        for part in ("data", "labels"):
            download_url(CIFAR10_1_URL.format(part), str(download_dir))
            arrays[part] = np.load(Path(download_dir) / f"cifar10.1_v6_{part}.npy")
        images = arrays["data"].astype(np.uint8)
        if resize:
            images = resize_images(images, resize["image_size"], resize["method"])
        return LabelledImages(images, arrays["labels"].astype(np.int64))
    (source,) = sources
    fit = image_fitter(resize)
    images, labels = [], []
    for file_name, payload in sorted(image_files(Path(source)), key=lambda entry: entry[0]):
        if payload is None:
            continue
        class_name = Path(file_name).parts[-2]
        if class_name not in info["classes"]:
            raise DataError(
                f"shift set {name}: class folder {class_name!r} ({file_name}) is not one of {info['classes']}"
            )
        array = decode_image(Path(source), file_name, payload)
        array = fit(array) if fit else array
        if list(array.shape) != info["image_shape"]:
            raise DataError(
                f"shift set {name}: {file_name} has shape {array.shape}, the study's images {info['image_shape']}"
            )
        images.append(array)
        labels.append(info["classes"].index(class_name))
    if not images:
        raise DataError(f"shift set {name}: no images under {source}")
    return LabelledImages(np.stack(images), np.asarray(labels, dtype=np.int64))
