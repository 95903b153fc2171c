"""The prepared data every later stage reads: uint8 images (N, H, W, 3) and int64 labels of the `train`, `val` and
`test` splits, and ``dataset.json`` (classes, sizes, per-channel mean/std of the training split, the source's
checksum, and the fingerprint of the arrays training reads). Training and evaluation only ever read these arrays,
so a new source needs nothing downstream.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


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


# --- split and write -----------------------------------------------------------------------------------------


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
