"""Data stage: read a labelled image source, split off a validation set, write uint8 arrays.

Every source ends up as uint8 images (N, H, W, 3) and int64 labels for `train`, `val` and `test`, plus
``dataset.json`` (classes, sizes, per-channel mean/std of the training split, the source's checksum, and the
fingerprint of the arrays training reads).
Training and evaluation only ever read these arrays, so a new source needs nothing downstream.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")


@dataclass
class LabelledImages:
    images: np.ndarray  # uint8 (N, H, W, 3)
    labels: np.ndarray  # int64 (N,)


class DataError(ValueError):
    """The data source is malformed; the message names the offending file or folder."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- sources -----------------------------------------------------------------------------------------------


def _tar_members(path: Path) -> Iterator[tuple[tarfile.TarInfo, bytes | None]]:
    """Every member of a tar archive with its bytes (None for non-files), checked to the archive's very end.

    tarfile stops without a word at a damaged member header (it takes it for the end of the archive), and gzip
    checks its CRC only at the end of the stream, so a damaged archive would otherwise yield a smaller data set.
    After the last member, everything must be the archive's zero padding, and the compressed stream is read to
    its end (CRC and length checked). One pass: the caller must consume every entry before trusting any.
    """
    try:
        with tarfile.open(path, "r:*") as archive:
            members = 0
            for member in archive:
                members += 1
                yield member, archive.extractfile(member).read() if member.isfile() else None
            end = archive.offset
            stream = archive.fileobj
            stream.seek(end)
            while block := stream.read(1 << 20):
                if block.strip(b"\0"):
                    raise DataError(
                        f"{path}: damaged archive: data after member {members} (byte {end} of the "
                        "tar stream) is not a tar header; check it with `tar -tzf`"
                    )
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: damaged archive ({error}); check it with `gzip -t` and `tar -tzf`") from error


def _imagefolder_entries(path: Path) -> Iterator[tuple[str, bytes | None]]:
    """(relative path, file bytes) for every image file under a directory or inside a tar archive, and
    (folder path, None) for every folder, so that a reader can name empty class folders.

    Hidden files and folders (a name starting with '.', e.g. macOS `._x.jpg` metadata) are skipped, with a count
    in the log: they are not images even when their suffix says so. An archive is checked as it is read (see
    `_tar_members`), so consume every entry before decoding any.
    """
    hidden = 0

    def visible(name: str) -> bool:
        nonlocal hidden
        if any(part.startswith(".") for part in Path(name).parts):
            hidden += 1
            return False
        return Path(name).suffix.lower() in IMAGE_SUFFIXES

    if path.is_dir():
        for file in sorted(path.rglob("*")):
            name = file.relative_to(path).as_posix()
            if file.is_dir():
                yield name, None
            elif file.is_file() and visible(name):
                yield name, file.read_bytes()
    elif path.name.endswith(TAR_SUFFIXES):
        for member, payload in _tar_members(path):
            if member.isdir():
                yield member.name, None
            elif member.isfile() and visible(member.name):
                yield member.name, payload
    else:
        raise DataError(f"imagefolder path {path} is neither a directory nor a {'/'.join(TAR_SUFFIXES)} archive")
    if hidden:
        log.warning("%s: skipped %d hidden file(s) (names starting with '.', e.g. macOS '._' metadata)", path, hidden)


def read_imagefolder(path: str | Path) -> tuple[dict[str, LabelledImages], list[str], str]:
    """Read ``train/<class>/*`` and ``test/<class>/*`` (optionally below one top-level folder).

    Returns the two splits, the class names (sorted folder names of `train`) and a checksum of the source.
    Files are ordered by path, so the arrays do not depend on the archive's member order.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"imagefolder path {path} does not exist")
    files: dict[str, dict[str, list[tuple[str, bytes]]]] = {"train": {}, "test": {}}
    directory_digest = hashlib.sha256()  # an archive is checksummed as a file; a directory from what is read here
    folders: set[tuple[str, str]] = set()
    for name, payload in _imagefolder_entries(path):
        parts = Path(name).parts
        if payload is None:
            if len(parts) >= 2 and parts[-2] in files:
                folders.add((parts[-2], parts[-1]))
            continue
        if path.is_dir():
            directory_digest.update(name.encode())
            directory_digest.update(hashlib.sha256(payload).digest())
        # <split>/<class>/[deeper folders/]file: as in torchvision's ImageFolder, a class holds its whole subtree
        split_at = next((i for i, part in enumerate(parts) if part in files and len(parts) - i >= 3), None)
        if split_at is None:
            continue
        split, label = parts[split_at], parts[split_at + 1]
        files[split].setdefault(label, []).append((name, payload))
    for split, by_class in files.items():
        if not by_class:
            raise DataError(f"{path}: no images found under a '{split}/<class>/' folder")
    classes = sorted(files["train"])
    empty = sorted(f"{split}/{name}" for split, name in folders if name not in files[split])
    if empty:
        log.warning("%s: class folder(s) without images, not classes of this study: %s", path, ", ".join(empty))
    unknown = sorted(set(files["test"]) - set(classes))
    if unknown:
        raise DataError(f"{path}: test classes {unknown} do not exist in train/")
    untested = sorted(set(classes) - set(files["test"]))
    if untested:
        raise DataError(
            f"{path}: test/ has no images of class(es) {untested}: their accuracy, and the worst class, "
            "could not be measured"
        )

    splits = {}
    for split, by_class in files.items():
        images, labels, shape = [], [], None
        for label, class_name in enumerate(classes):
            for name, payload in sorted(by_class.get(class_name, [])):
                array = _decode(path, name, payload)
                if shape is None:
                    shape = array.shape
                elif array.shape != shape:
                    raise DataError(f"{path}: image {name} has shape {array.shape}, expected {shape} like the others")
                images.append(array)
                labels.append(label)
        splits[split] = LabelledImages(np.stack(images), np.asarray(labels, dtype=np.int64))
    if splits["train"].images.shape[1:] != splits["test"].images.shape[1:]:
        raise DataError(f"{path}: train and test images differ in size")
    checksum = sha256_file(path) if path.is_file() else directory_digest.hexdigest()
    return splits, classes, checksum


def _decode(source: Path, name: str, payload: bytes) -> np.ndarray:
    """An image file's bytes as uint8 RGB (H, W, 3); a broken file is an error naming it.

    16-bit greyscale (PIL modes ``I;16*`` and ``I``, which is how PNG's 16-bit grey opens) is scaled to 8 bits:
    PIL's own conversion to RGB clips such values at 255, which turns the image white.
    """
    try:
        image = Image.open(io.BytesIO(payload))
        if image.mode.startswith("I;16") or image.mode == "I":
            grey = np.round(np.asarray(image, dtype=np.float64) / 257).clip(0, 255).astype(np.uint8)
            return np.repeat(grey[..., None], 3, axis=2)
        return np.asarray(image.convert("RGB"))
    except Exception as error:  # PIL raises several types for broken files
        raise DataError(f"{source}: cannot decode image {name}: {error}") from error


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


def make_synthetic(
    num_classes: int = 10, image_size: int = 32, train_per_class: int = 500, test_per_class: int = 100, seed: int = 0
) -> tuple[dict[str, LabelledImages], list[str], str]:
    """A small procedural dataset that needs no download: smoke runs and tests anywhere.

    Each class is a smooth random colour pattern; an image blends its class pattern with a distractor
    class, shifts it and adds noise, so models make errors and disagree (a task of CIFAR-like difficulty
    for tiny models, not a trivially separable one).
    """
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 1, size=(num_classes, 4, 4, 3))
    upsample = np.kron(coarse, np.ones((1, image_size // 4 + 1, image_size // 4 + 1, 1)))
    prototypes = upsample[:, :image_size, :image_size, :]

    def sample(count: int) -> LabelledImages:
        labels = np.repeat(np.arange(num_classes), count)
        distractors = (labels + rng.integers(1, num_classes, size=labels.size)) % num_classes
        weight = rng.uniform(0.35, 0.75, size=(labels.size, 1, 1, 1))
        images = weight * prototypes[labels] + (1 - weight) * prototypes[distractors]
        shifts = rng.integers(-3, 4, size=(labels.size, 2))
        images = np.stack([np.roll(image, tuple(shift), axis=(0, 1)) for image, shift in zip(images, shifts)])
        images = images + rng.normal(0, 0.12, size=images.shape)
        return LabelledImages((np.clip(images, 0, 1) * 255).round().astype(np.uint8), labels.astype(np.int64))

    splits = {"train": sample(train_per_class), "test": sample(test_per_class)}
    classes = [f"class{index}" for index in range(num_classes)]
    # Every argument, since each changes the images (a checksum naming only the seed let two data sets share it).
    settings = dict(
        num_classes=num_classes,
        image_size=image_size,
        train_per_class=train_per_class,
        test_per_class=test_per_class,
        seed=seed,
    )
    return splits, classes, "synthetic:" + json.dumps(settings, sort_keys=True)


CIFAR10_1_URL = "https://raw.githubusercontent.com/modestyachts/CIFAR-10.1/master/datasets/cifar10.1_v6_{}.npy"
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def read_shift_set(name: str, sources: list[str], info: dict[str, Any], download_dir: str | Path) -> LabelledImages:
    """An extra labelled test set in this study's label space: CIFAR-10.1 (v6) or an ImageFolder of class folders."""
    if name == "cifar10_1":
        from torchvision.datasets.utils import download_url

        if info["classes"] != CIFAR10_CLASSES:
            raise DataError(f"shift set cifar10_1 needs the CIFAR-10 classes, this study has {info['classes']}")
        arrays = {}
        for part in ("data", "labels"):
            download_url(CIFAR10_1_URL.format(part), str(download_dir))
            arrays[part] = np.load(Path(download_dir) / f"cifar10.1_v6_{part}.npy")
        return LabelledImages(arrays["data"].astype(np.uint8), arrays["labels"].astype(np.int64))
    (source,) = sources
    images, labels = [], []
    for file_name, payload in sorted(_imagefolder_entries(Path(source)), key=lambda entry: entry[0]):
        if payload is None:
            continue
        class_name = Path(file_name).parts[-2]
        if class_name not in info["classes"]:
            raise DataError(
                f"shift set {name}: class folder {class_name!r} ({file_name}) is not one of {info['classes']}"
            )
        array = _decode(Path(source), file_name, payload)
        if list(array.shape) != info["image_shape"]:
            raise DataError(
                f"shift set {name}: {file_name} has shape {array.shape}, the study's images {info['image_shape']}"
            )
        images.append(array)
        labels.append(info["classes"].index(class_name))
    if not images:
        raise DataError(f"shift set {name}: no images under {source}")
    return LabelledImages(np.stack(images), np.asarray(labels, dtype=np.int64))


# --- split and write -----------------------------------------------------------------------------------------


def split_validation(train: LabelledImages, val_size: int, split_seed: int) -> tuple[LabelledImages, LabelledImages]:
    """Deterministic random train/validation split; both keep the original order of their examples."""
    if not 0 < val_size < len(train.labels):
        raise DataError(f"data.val_size={val_size} must be between 1 and the {len(train.labels)} training images - 1")
    order = np.random.default_rng(split_seed).permutation(len(train.labels))
    val_index, train_index = np.sort(order[:val_size]), np.sort(order[val_size:])
    return (
        LabelledImages(train.images[train_index], train.labels[train_index]),
        LabelledImages(train.images[val_index], train.labels[val_index]),
    )


def load_source(data_config: dict[str, Any]) -> tuple[dict[str, LabelledImages], list[str], str]:
    source = data_config["source"]
    if source == "cifar10":
        return read_cifar10(data_config["path"])
    if source == "imagefolder":
        return read_imagefolder(data_config["path"])
    if source == "synthetic":
        return make_synthetic(**data_config.get("synthetic", {}))
    raise DataError(f"data.source={source!r} is not one of cifar10, imagefolder, synthetic")


def prepare(data_config: dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Run the data stage: read, split, write ``<split>_images.npy``/``<split>_labels.npy`` and ``dataset.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    splits, classes, checksum = load_source(data_config)
    train, val = split_validation(splits["train"], data_config["val_size"], data_config["split_seed"])
    final = {"train": train, "val": val, "test": splits["test"]}
    for split, data in final.items():
        np.save(out_dir / f"{split}_images.npy", data.images)
        np.save(out_dir / f"{split}_labels.npy", data.labels)
    pixels = train.images.reshape(-1, 3).astype(np.float64) / 255
    info = {
        "fingerprint": content_fingerprint(train, val, classes),
        "source": data_config["source"],
        "path": str(data_config.get("path", "")),
        "checksum": checksum,
        "classes": classes,
        "image_shape": list(train.images.shape[1:]),
        "sizes": {split: int(len(data.labels)) for split, data in final.items()},
        "val_size": data_config["val_size"],
        "split_seed": data_config["split_seed"],
        "mean": pixels.mean(axis=0).round(6).tolist(),
        "std": pixels.std(axis=0).round(6).tolist(),
    }
    (out_dir / "dataset.json").write_text(json.dumps(info, indent=2))
    return info


def content_fingerprint(train: LabelledImages, val: LabelledImages, classes: list[str]) -> str:
    """A digest of what training reads: the training and validation arrays (validation decides when a run has
    diverged) and the class names. Trained models are cached under it, so a model is restored only onto the very
    data it was trained on, whatever source, settings or path produced that data."""
    digest = hashlib.sha256(json.dumps(classes).encode())
    for data in (train, val):
        for array in (data.images, data.labels):
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()[:12]


def load_split(data_dir: str | Path, split: str, mmap: bool = False) -> LabelledImages:
    """A prepared split; ``mmap=True`` maps the images instead of reading them, for callers that need the
    labels or a subset only."""
    data_dir = Path(data_dir)
    images = np.load(data_dir / f"{split}_images.npy", mmap_mode="r" if mmap else None)
    return LabelledImages(images, np.load(data_dir / f"{split}_labels.npy"))


def load_info(data_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(data_dir) / "dataset.json").read_text())


# The splits an evaluation reads: `test` for what the sheets report, `val` for what model selection reads.
HELD_OUT_SPLITS = ("val", "test")
