"""Evaluation stage: per-example logits and a tidy metrics table, per run and intervention.

An *intervention family* (clean, corruption, adversarial, ...) turns a model into logits on one or more
*interventions* (named instances such as ``clean`` or ``corruption=fog/severity=3``). Families load their
data once per process and are then applied to every run of the job. Logits are stored as float16
(N x C) so any later multiplicity measure can be computed without retraining.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from multisheets.data import load_split
from multisheets.runtime import Runtime

EVAL_BATCH_SIZE = 1024


class Prediction(NamedTuple):
    intervention: str
    logits: torch.Tensor  # float32 (N, C)
    labels: torch.Tensor  # int64 (N,)
    indices: np.ndarray | None = None  # positions in the source split when an intervention uses a subset


@torch.inference_mode()
def predict(forward: Callable, images: torch.Tensor, runtime: Runtime, batch_size: int = EVAL_BATCH_SIZE):
    """Logits (float32, N x C) for uint8 NCHW images already on the device, in eval mode, batched."""
    module = getattr(forward, "_orig_mod", forward)
    was_training = module.training
    module.eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].float().div_(255)
        if runtime.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with runtime.autocast():
            outputs.append(forward(batch).float())
    module.train(was_training)
    return torch.cat(outputs)


def load_model(path: str | Path, runtime: Runtime) -> tuple[torch.nn.Module, dict[str, Any]]:
    from multisheets.models import build_model

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(
        checkpoint["model"], checkpoint["num_classes"], checkpoint["mean"], checkpoint["std"], checkpoint["width"]
    )
    model.load_state_dict(checkpoint["state_dict"])
    model = model.to(runtime.device).eval()
    if runtime.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, checkpoint


# --- families ------------------------------------------------------------------------------------------------


class CleanFamily:
    """The untouched validation and test splits (interventions ``val`` and ``clean``)."""

    def __init__(self, data_dir: Path, settings: dict[str, Any], runtime: Runtime):
        from multisheets.train import to_device_images

        self.sets = {}
        for intervention, split in (("val", "val"), ("clean", "test")):
            data = load_split(data_dir, split)
            labels = torch.from_numpy(data.labels).to(runtime.device)
            self.sets[intervention] = (to_device_images(data.images, runtime), labels)
        self.runtime, self.batch_size = runtime, settings.get("batch_size", EVAL_BATCH_SIZE)

    def shapes(self) -> dict[str, int]:
        return {name: len(labels) for name, (_, labels) in self.sets.items()}

    def __call__(self, forward: Callable) -> Iterator[Prediction]:
        for intervention, (images, labels) in self.sets.items():
            yield Prediction(intervention, predict(forward, images, self.runtime, self.batch_size), labels)


FAMILIES: dict[str, type] = {"clean": CleanFamily}


# --- metrics and files ---------------------------------------------------------------------------------------


def metric_row(prediction: Prediction) -> dict[str, Any]:
    """Accuracy next to loss and calibration for one (run, intervention); `n` sets the sampling-noise floor."""
    from multisheets.trust import expected_calibration_error

    logits = prediction.logits.float()
    labels = prediction.labels
    probabilities = logits.softmax(1)
    logits_np, labels_np = logits.cpu().numpy(), labels.cpu().numpy()
    return {
        "intervention": prediction.intervention,
        "n": int(len(labels)),
        "accuracy": float((logits.argmax(1) == labels).float().mean()),
        "loss": float(F.cross_entropy(logits, labels)),
        "mean_confidence": float(probabilities.max(1).values.mean()),
        "ece": float(expected_calibration_error(logits_np, labels_np)),
    }


def evaluate_runs(
    family: str, model_paths: list[str], data_dir: str | Path, prediction_paths: list[str], metric_paths: list[str],
    runtime: Runtime, settings: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Apply one family to every run of a job; write ``<family>.npz`` logits and ``<family>.csv`` metrics per run."""
    if family not in FAMILIES:
        raise ValueError(f"unknown intervention family {family!r} (known: {sorted(FAMILIES)})")
    sets = FAMILIES[family](Path(data_dir), settings or {}, runtime)
    tables = []
    for model_path, prediction_path, metric_path in zip(model_paths, prediction_paths, metric_paths, strict=True):
        model, checkpoint = load_model(model_path, runtime)
        rows, arrays = [], {}
        if checkpoint["status"] == "diverged":
            # A diverged model's logits are NaN: record the state instead of meaningless numbers.
            for intervention, n in sets.shapes().items():
                arrays[intervention] = np.full((n, checkpoint["num_classes"]), np.nan, dtype=np.float16)
                rows.append({"intervention": intervention, "n": n, "accuracy": np.nan})
        else:
            for prediction in sets(model):
                arrays[prediction.intervention] = prediction.logits.cpu().numpy().astype(np.float16)
                if prediction.indices is not None:
                    arrays[f"{prediction.intervention}#indices"] = prediction.indices
                rows.append(metric_row(prediction))
        table = pd.DataFrame(rows)
        table.insert(0, "family", family)
        table.insert(0, "run_id", checkpoint["run_id"])
        table["status"] = checkpoint["status"]
        Path(prediction_path).parent.mkdir(parents=True, exist_ok=True)
        np.savez(prediction_path, **arrays)
        Path(metric_path).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(metric_path, index=False)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def load_logits(prediction_path: str | Path) -> dict[str, np.ndarray]:
    """Intervention name -> float16 logits (N x C) from one run's family file."""
    with np.load(prediction_path) as archive:
        return {key: archive[key] for key in archive.files if "#" not in key}
