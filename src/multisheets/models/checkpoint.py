"""A run's model file (``model.pt``): its weights and what it takes to rebuild the model.

Training writes it and evaluation reads it; this is the one place that knows the layout. Users keep trained models
and the model cache holds them across versions of the workflow, so the layout only grows: a field added later is
read with a default for older files (as `tta` is), and existing fields keep their names, order and types, so a
model written now is byte-for-byte what earlier versions wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from multisheets.infra.files import write_atomically
from multisheets.models.architectures import ARCHITECTURES
from multisheets.models.runtime import Runtime
from multisheets.models.zoo import build_model

# Fields in the order they are written (pickle keeps dict order, so the order is part of the file's bytes).
FIELDS = ("run_id", "status", "model", "width", "tta", "num_classes", "mean", "std", "state_dict")
# field -> value for files written before it existed: they had no TTA, and trained on the whole training split.
# `train_indices` is written only by runs that drew a sample (`train_fraction`, `bootstrap`), after the others.
LATER_FIELDS = {"tta": "none", "train_indices": None}
# Written after FIELDS, and only for an architecture whose layers depend on the image size (torchvision's), so the
# other architectures' files stay what earlier versions wrote; read as None where absent.
SIZED_FIELDS = ("image_size",)


def image_size(info: dict[str, Any]) -> list[int]:
    """The prepared images' [height, width] (dataset.json's `image_shape` is height, width, channels)."""
    return list(info["image_shape"][:2])


def checkpoint_of(
    module: nn.Module, summary: dict[str, Any], info: dict[str, Any], train_indices: np.ndarray | None = None
) -> dict[str, Any]:
    """A trained module's checkpoint: its weights on the CPU, its architecture, its run and the data's statistics,
    and the positions in the training split it trained on when it drew a sample (membership inference reads them)."""
    hp = summary["hyperparameters"]
    checkpoint = {
        "run_id": summary["run_id"],
        "status": summary["status"],
        "model": hp["model"],
        "width": hp["width"],
        "tta": hp["tta"],
        "num_classes": len(info["classes"]),
        "mean": info["mean"],
        "std": info["std"],
        "state_dict": {key: value.detach().cpu() for key, value in module.state_dict().items()},
    }
    if ARCHITECTURES[hp["model"]].sized:
        checkpoint["image_size"] = image_size(info)
    if train_indices is not None:
        checkpoint["train_indices"] = torch.from_numpy(np.asarray(train_indices, dtype=np.int64))
    return checkpoint


def write_checkpoint(checkpoint: dict[str, Any], path: Path) -> None:
    """Write a checkpoint whole or not at all (a killed job must not leave a truncated model)."""
    write_atomically(path, lambda temporary: torch.save(checkpoint, temporary))


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's fields; tensors only (``weights_only``), so a model file cannot run code."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    missing = [field for field in FIELDS if field not in checkpoint and field not in LATER_FIELDS]
    if missing:
        raise ValueError(f"{path}: not a model file of this workflow (it lacks {', '.join(missing)})")
    return dict.fromkeys(SIZED_FIELDS) | LATER_FIELDS | checkpoint


def load_model(path: str | Path, runtime: Runtime) -> tuple[nn.Module, dict[str, Any]]:
    """The model rebuilt from its file, on the runtime's device in eval mode, and the checkpoint it came from."""
    checkpoint = read_checkpoint(path)
    model = build_model(
        checkpoint["model"],
        checkpoint["num_classes"],
        checkpoint["mean"],
        checkpoint["std"],
        checkpoint["width"],
        checkpoint["tta"],
        checkpoint["image_size"],
    )
    model.load_state_dict(checkpoint["state_dict"])
    model = model.to(runtime.device).eval()
    if runtime.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, checkpoint
