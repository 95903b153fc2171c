"""The data stage: read a source, resize its images where the study asks (`data.image_size`), split off the
validation set, write uint8 arrays and ``dataset.json``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from multisheets.data.arrays import DataError, LabelledImages
from multisheets.data.resize import resize_images, resizing
from multisheets.data.sources import load_source


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


def prepare(data_config: dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Run the data stage: read, resize, split, write ``<split>_images.npy``/``<split>_labels.npy`` and
    ``dataset.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    splits, classes, checksum = load_source(data_config)
    resize = resizing(data_config)
    if resize:  # an image folder's images are resized as they are decoded; these are then kept as they are
        splits = {
            split: LabelledImages(resize_images(data.images, resize["image_size"], resize["method"]), data.labels)
            for split, data in splits.items()
        }
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
        "resize": resize,  # {"image_size", "method"}, or None: the source's own size
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
