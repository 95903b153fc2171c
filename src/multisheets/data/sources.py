"""Data sources by name (`data.source`): where a study's images come from.

Each source reads its train and test images, their class names and a checksum of what it read. Its entry also says
which of the `data` settings the images depend on (its part of the data key) and, where they are known before
anything is read, how many images its train and test parts hold (so a study can be checked before any job). A new
source is one entry here; its settings, if it has any, are keys under `data:` in the schema.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from multisheets.data.arrays import DataError, LabelledImages, sha256_file
from multisheets.data.imagefolder import read_imagefolder
from multisheets.data.resize import image_fitter, resizing
from multisheets.data.synthetic import make_synthetic

Read = tuple[dict[str, LabelledImages], list[str], str]  # {"train", "test"} images, class names, checksum


@dataclass(frozen=True)
class Source:
    """A kind of labelled image set."""

    read: Callable[[dict[str, Any]], Read]  # the `data` settings -> what it read
    # the `data` keys its images depend on, besides those of every source: the split's val_size and split_seed, and
    # image_size and resize (applied by the data stage, see `data.resize`)
    settings: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()  # `data` keys it reads that its images do not depend on (where a download goes)
    sizes: Callable[[dict[str, Any]], dict[str, int]] | None = None  # settings -> train/test image counts, unread


def read_cifar10(root: str | Path) -> Read:
    """CIFAR-10 through torchvision, downloaded into `root` on first use (torchvision checks its MD5)."""
    from torchvision.datasets import CIFAR10

    splits = {}
    for split, train in (("train", True), ("test", False)):
        dataset = CIFAR10(root=str(root), train=train, download=True)
        splits[split] = LabelledImages(np.asarray(dataset.data), np.asarray(dataset.targets, dtype=np.int64))
    archive = Path(root) / CIFAR10.filename
    checksum = sha256_file(archive) if archive.exists() else f"md5:{CIFAR10.tgz_md5}"
    return splits, list(dataset.classes), checksum


SOURCES: dict[str, Source] = {
    # `path` is only where torchvision downloads to (and checks the MD5): another folder is the same data.
    "cifar10": Source(
        read=lambda data: read_cifar10(data["path"]),
        locations=("path",),
        sizes=lambda data: {"train": 50_000, "test": 10_000},
    ),
    # An image folder's images may differ in size where the study resizes them: each is resized as it is read.
    "imagefolder": Source(
        read=lambda data: read_imagefolder(data["path"], image_fitter(resizing(data))), settings=("path",)
    ),
    "synthetic": Source(
        read=lambda data: make_synthetic(**data.get("synthetic", {})),
        settings=("synthetic",),
        sizes=lambda data: {
            split: data["synthetic"]["num_classes"] * data["synthetic"][f"{split}_per_class"]
            for split in ("train", "test")
        },
    ),
}


def source_of(data: dict[str, Any]) -> Source:
    if data["source"] not in SOURCES:
        raise DataError(f"data.source={data['source']!r} is not one of {', '.join(SOURCES)}")
    return SOURCES[data["source"]]


def load_source(data: dict[str, Any]) -> Read:
    """Read the study's source: its train and test images, class names and checksum."""
    return source_of(data).read(data)
