"""Data sources by name (`data.source`): each reads its train and test images, class names and a checksum."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from multisheets.data.arrays import DataError, LabelledImages, sha256_file
from multisheets.data.imagefolder import read_imagefolder
from multisheets.data.synthetic import make_synthetic


def read_cifar10(root: str | Path) -> tuple[dict[str, LabelledImages], list[str], str]:
    """CIFAR-10 through torchvision, downloaded into `root` on first use (torchvision checks its MD5)."""
    from torchvision.datasets import CIFAR10

    splits = {}
    for split, train in (("train", True), ("test", False)):
        dataset = CIFAR10(root=str(root), train=train, download=True)
        splits[split] = LabelledImages(np.asarray(dataset.data), np.asarray(dataset.targets, dtype=np.int64))
    archive = Path(root) / CIFAR10.filename
    checksum = sha256_file(archive) if archive.exists() else f"md5:{CIFAR10.tgz_md5}"
    return splits, list(dataset.classes), checksum


def load_source(data_config: dict[str, Any]) -> tuple[dict[str, LabelledImages], list[str], str]:
    source = data_config["source"]
    if source == "cifar10":
        return read_cifar10(data_config["path"])
    if source == "imagefolder":
        return read_imagefolder(data_config["path"])
    if source == "synthetic":
        return make_synthetic(**data_config.get("synthetic", {}))
    raise DataError(f"data.source={source!r} is not one of cifar10, imagefolder, synthetic")
