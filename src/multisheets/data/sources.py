"""Data sources by name (`data.source`): where a study's images come from.

Each source reads its train and test images, their class names and a checksum of what it read. Its entry also says
which of the `data` settings the images depend on (its part of the data key) and, where they are known before
anything is read, how many images its train and test parts hold (so a study can be checked before any job). A new
source is one entry here; its settings, if it has any, are keys under `data:` in the schema.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from multisheets.data.arrays import DataError
from multisheets.data.imagefolder import read_imagefolder
from multisheets.data.resize import image_fitter, resizing
from multisheets.data.synthetic import make_synthetic
from multisheets.data.torchvision_sources import SIZES, TORCHVISION_SETS, Read, read_cifar10, read_torchvision


@dataclass(frozen=True)
class Source:
    """A kind of labelled image set."""

    read: Callable[[dict[str, Any]], Read]  # the `data` settings -> what it read
    # the `data` keys its images depend on, besides those of every source: the split's val_size and split_seed, and
    # image_size and resize (applied by the data stage, see `data.resize`)
    settings: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()  # `data` keys it reads that its images do not depend on (where a download goes)
    sizes: Callable[[dict[str, Any]], dict[str, int]] | None = None  # settings -> train/test image counts, unread


def _torchvision_source(name: str) -> Source:
    """A set torchvision downloads (see `torchvision_sources`). `path` is only where it downloads to (and checks
    the MD5s): another folder is the same data."""
    return Source(
        read=lambda data: read_torchvision(name, data["path"]),
        locations=("path",),
        sizes=lambda data: dict(SIZES[name]),
    )


SOURCES: dict[str, Source] = {
    "cifar10": Source(
        read=lambda data: read_cifar10(data["path"]),
        locations=("path",),
        sizes=lambda data: dict(SIZES["cifar10"]),
    ),
    **{name: _torchvision_source(name) for name in TORCHVISION_SETS},
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
