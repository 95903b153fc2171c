"""Labelled image sets that torchvision downloads and reads: CIFAR-10, CIFAR-100, SVHN, MNIST, Fashion-MNIST and
STL-10 (`data.source` cifar10, cifar100, svhn, mnist, fashion_mnist, stl10).

Each is read through torchvision's own dataset class with ``download=True`` into `data.path`: the first use
downloads it, later uses read the files there. torchvision checks the MD5 of what it downloads, and for CIFAR,
SVHN and STL-10 also of the files it finds. Every set comes out as every later stage reads it: uint8 (N, H, W, 3)
images and int64 labels, in torchvision's order.

* Greyscale images (MNIST, Fashion-MNIST) are replicated to three channels: every model, normalisation and
  corruption of the workflow is RGB. Three equal channels keep all the information, and the corruptions' colour
  operations act on them as on any grey pixel of a colour image (brightness and contrast keep them grey,
  saturate's scaling leaves them as they are, its shift at severities 4-5 tints them red, grey's hue being 0).
* SVHN and STL-10 come channels first (N, 3, H, W) from torchvision and are transposed. SVHN's digit 0, labelled
  10 in its files, is class 0: torchvision maps it.
* Only the labelled train and test parts are read: not SVHN's `extra` part (531,131 easier digits), nor STL-10's
  100,000 unlabelled images (torchvision still downloads and checks them with the rest of its archive).

The checksum of a set (``dataset.json``) is the sha256 of the files read (of their sha256 sums, file by file,
where there are several): what the arrays come from, also where the downloaded archive was deleted. CIFAR-10
keeps the checksum it always had (its archive, or its MD5), which the model cache's old entries are named after.

torchvision is imported only in the readers, so that the workflow names sources without importing it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multisheets.data.arrays import DataError, LabelledImages, sha256_file

Read = tuple[dict[str, LabelledImages], list[str], str]  # {"train", "test"} images, class names, checksum


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


def _idx_files(folder: str) -> tuple[str, ...]:
    """The four idx files torchvision's MNIST classes read, in `folder` (``<class>/raw``)."""
    return tuple(
        f"{folder}/{part}-{kind}" for part in ("train", "t10k") for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
    )


@dataclass(frozen=True)
class TorchvisionSet:
    """How one torchvision dataset class gives a study's train and test parts."""

    dataset: str  # its class in torchvision.datasets
    parts: dict[str, dict]  # "train"/"test" -> the class's arguments that select that part
    layout: str  # of its `data`: "NHWC", "NCHW" (transposed here) or "NHW" (greyscale, replicated here)
    files: tuple[str, ...]  # the files it reads, relative to the root: what the checksum digests
    classes: tuple[str, ...] = ()  # class names where the dataset has none of its own (SVHN)


TORCHVISION_SETS: dict[str, TorchvisionSet] = {
    "cifar100": TorchvisionSet(
        "CIFAR100",
        {"train": {"train": True}, "test": {"train": False}},
        "NHWC",
        ("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta"),
    ),  # the 100 fine classes (the 20 coarse superclasses are not used)
    "svhn": TorchvisionSet(
        "SVHN",
        {"train": {"split": "train"}, "test": {"split": "test"}},
        "NCHW",
        ("train_32x32.mat", "test_32x32.mat"),
        classes=tuple(str(digit) for digit in range(10)),
    ),
    "mnist": TorchvisionSet(
        "MNIST",
        {"train": {"train": True}, "test": {"train": False}},
        "NHW",
        _idx_files("MNIST/raw"),
    ),
    "fashion_mnist": TorchvisionSet(
        "FashionMNIST",
        {"train": {"train": True}, "test": {"train": False}},
        "NHW",
        _idx_files("FashionMNIST/raw"),
    ),
    "stl10": TorchvisionSet(
        "STL10",
        {"train": {"split": "train"}, "test": {"split": "test"}},
        "NCHW",
        tuple(f"stl10_binary/{name}" for name in ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"))
        + ("stl10_binary/class_names.txt",),
    ),
}

# The counts of each set's train and test parts, known without reading it (the study is checked before any job).
SIZES: dict[str, dict[str, int]] = {
    "cifar10": {"train": 50_000, "test": 10_000},
    "cifar100": {"train": 50_000, "test": 10_000},
    "svhn": {"train": 73_257, "test": 26_032},
    "mnist": {"train": 60_000, "test": 10_000},
    "fashion_mnist": {"train": 60_000, "test": 10_000},
    "stl10": {"train": 5_000, "test": 8_000},
}


def as_rgb(data, layout: str) -> np.ndarray:
    """A torchvision dataset's `data` (a uint8 array or tensor) as contiguous uint8 (N, H, W, 3)."""
    images = np.asarray(data.numpy() if hasattr(data, "numpy") else data)
    if images.dtype != np.uint8:
        raise DataError(f"expected uint8 images, torchvision gave {images.dtype}")
    if layout == "NHW":
        return np.repeat(images[..., None], 3, axis=3)
    if layout == "NCHW":
        images = images.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images)


def files_checksum(root: Path, files: tuple[str, ...]) -> str:
    """sha256 of the files read: of the one file, or of ``<sha256>  <name>`` lines of several (as sha256sum)."""
    sums = [(sha256_file(root / name), name) for name in files]
    if len(sums) == 1:
        return sums[0][0]
    return hashlib.sha256("".join(f"{digest}  {name}\n" for digest, name in sums).encode()).hexdigest()


def read_torchvision(name: str, root: str | Path) -> Read:
    """Source `name` of TORCHVISION_SETS, downloaded into `root` on first use."""
    import torchvision.datasets

    spec = TORCHVISION_SETS[name]
    dataset_class = getattr(torchvision.datasets, spec.dataset)
    splits, classes = {}, list(spec.classes)
    for part, arguments in spec.parts.items():
        dataset = dataset_class(root=str(root), download=True, **arguments)
        labels = dataset.targets if hasattr(dataset, "targets") else dataset.labels
        labels = np.asarray(labels.numpy() if hasattr(labels, "numpy") else labels).astype(np.int64)
        splits[part] = LabelledImages(as_rgb(dataset.data, spec.layout), labels)
        classes = classes or list(getattr(dataset, "classes", []))
    if not classes:
        raise DataError(f"{root}: {spec.dataset} found no class names (STL-10: stl10_binary/class_names.txt)")
    for part, data in splits.items():
        if len(data.labels) != len(data.images) or not np.isin(data.labels, np.arange(len(classes))).all():
            raise DataError(f"{root}: {spec.dataset} {part} labels are not one per image in 0..{len(classes) - 1}")
    return splits, classes, files_checksum(Path(root), spec.files)
