"""Image folders and tar archives in ImageFolder layout (``[top/]train/<class>/*``, ``test/<class>/*``), read and
checked to the last byte.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from multisheets.data.arrays import DataError, LabelledImages, sha256_file

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")


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


def image_files(path: Path) -> Iterator[tuple[str, bytes | None]]:
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


Fit = Callable[[np.ndarray], np.ndarray]  # one decoded image -> the study's size (`data.resize.image_fitter`)

# What a refusal of images of different sizes suggests instead.
ONE_SIZE_HINT = "set data.image_size to resize every image to one size"


def read_imagefolder(path: str | Path, fit: Fit | None = None) -> tuple[dict[str, LabelledImages], list[str], str]:
    """Read ``train/<class>/*`` and ``test/<class>/*`` (optionally below one top-level folder).

    Returns the two splits, the class names (sorted folder names of `train`) and a checksum of the source.
    Files are ordered by path, so the arrays do not depend on the archive's member order. `fit` resizes each
    image as it is decoded (images of any sizes then make one array); without it, all must share one size.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"imagefolder path {path} does not exist")
    files: dict[str, dict[str, list[tuple[str, bytes]]]] = {"train": {}, "test": {}}
    directory_digest = hashlib.sha256()  # an archive is checksummed as a file; a directory from what is read here
    folders: set[tuple[str, str]] = set()
    for name, payload in image_files(path):
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

    splits = {split: _decoded(path, by_class, classes, fit) for split, by_class in files.items()}
    if splits["train"].images.shape[1:] != splits["test"].images.shape[1:]:
        raise DataError(f"{path}: train and test images differ in size ({ONE_SIZE_HINT})")
    checksum = sha256_file(path) if path.is_file() else directory_digest.hexdigest()
    return splits, classes, checksum


def _decoded(
    path: Path, by_class: dict[str, list[tuple[str, bytes]]], classes: list[str], fit: Fit | None
) -> LabelledImages:
    """One split's images, decoded class by class and file by file, all of one size (after `fit`, if given)."""
    images, labels, shape = [], [], None
    for label, class_name in enumerate(classes):
        for name, payload in sorted(by_class.get(class_name, [])):
            array = decode_image(path, name, payload)
            array = fit(array) if fit else array
            if shape is None:
                shape = array.shape
            elif array.shape != shape:
                raise DataError(
                    f"{path}: image {name} has shape {array.shape}, expected {shape} like the others ({ONE_SIZE_HINT})"
                )
            images.append(array)
            labels.append(label)
    return LabelledImages(np.stack(images), np.asarray(labels, dtype=np.int64))


def decode_image(source: Path, name: str, payload: bytes) -> np.ndarray:
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
