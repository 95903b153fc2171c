"""Evaluation stage: per-example logits and a tidy metrics table, per run and intervention.

An *intervention family* (clean, corruption, adversarial, ...) turns a model into logits on one or more
*interventions* (named instances such as ``clean`` or ``corruption=fog/severity=3``). Families load their
data once per process and are then applied to every run of the job. Logits are stored as float16
(N x C) so any later multiplicity measure can be computed without retraining.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from multisheets.infra.files import write_atomically
from multisheets.infra.lazy import resolve
from multisheets.interventions.families import LoadedFamily, Prediction
from multisheets.interventions.registry import FAMILIES
from multisheets.models.checkpoint import load_model
from multisheets.models.runtime import Runtime

log = logging.getLogger(__name__)


# --- metrics and files ---------------------------------------------------------------------------------------


def metric_row(prediction: Prediction, num_classes: int) -> dict[str, Any]:
    """Accuracy next to loss, calibration and per-class fairness for one (run, intervention).

    `n` sets the sampling-noise floor. `metric` says what `accuracy` holds: for membership inference the
    re-expressed metric is the attack's accuracy (``metric = attack_accuracy``) and the classifier's own
    accuracy is kept in `classifier_accuracy`. Every number comes from `trust`'s float64 functions, the ones the
    membership attack scores with.
    """
    from multisheets.measures.per_model import (
        expected_calibration_error,
        per_class_accuracy,
        per_example_loss,
        softmax_confidence,
    )

    logits = prediction.logits.float().cpu().numpy()
    labels = prediction.labels.cpu().numpy()
    confidence, predicted = softmax_confidence(logits)
    per_class = per_class_accuracy(predicted, labels, num_classes)
    row = {
        "intervention": prediction.intervention,
        "n": int(len(labels)),
        "accuracy": float((predicted == labels).mean()),
        "metric": "accuracy",
        "loss": float(per_example_loss(logits, labels).mean()),
        "mean_confidence": float(confidence.mean()),
        "ece": float(expected_calibration_error(logits, labels)),
        "worst_class_accuracy": float(np.nanmin(per_class)),
        "best_class_accuracy": float(np.nanmax(per_class)),
        "worst_class": int(np.nanargmin(per_class)),
        "worst_class_n": int((labels == np.nanargmin(per_class)).sum()),
    }
    if prediction.extra:  # a family's own fields; one that redefines `accuracy` keeps the classifier's apart
        if "accuracy" in prediction.extra:
            row["classifier_accuracy"] = row["accuracy"]
        row |= prediction.extra
    return row


def load_family(
    family: str,
    data_dir: str | Path,
    runtime: Runtime,
    settings: dict[str, Any] | None = None,
    inputs: list[str] | None = None,
    split: str = "test",
) -> LoadedFamily:
    """A family with its data on the device, ready for any number of models.

    `inputs` are the family's prepared files (corrupted sets, shift sets), when it has any; `split` is the
    held-out split it reads (``test`` for the sheets, ``val`` for model selection).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown intervention family {family!r} (known: {', '.join(FAMILIES)})")
    started = time.perf_counter()
    evaluator = resolve(FAMILIES[family].evaluator)
    loaded_family = evaluator(Path(data_dir), settings or {}, runtime, inputs, split=split)
    log.info(
        "%s on %s: %d interventions loaded in %.1f s",
        family,
        split,
        len(loaded_family.shapes()),
        time.perf_counter() - started,
    )
    return loaded_family


#: What an evaluation keeps per example besides its metrics (`interventions.corruption.keep`): the logits, or
#: only the predicted class and the true class's probability, a fifth of the bytes. The sheet reads only the
#: predicted classes; the per-example measures that need every class's probability skip a family without logits.
KEEP = ("logits", "predictions")


def evaluate_model(
    loaded_family: LoadedFamily,
    family: str,
    model_path: str,
    prediction_path: str,
    metric_path: str,
    runtime: Runtime,
    keep: str = "logits",
) -> pd.DataFrame:
    """Apply a loaded family to one run; write its ``<family>.npz`` logits (or, with `keep="predictions"`, only
    ``#predicted`` and ``#true_probability`` per intervention) and ``<family>.csv`` metrics."""
    if keep not in KEEP:
        raise ValueError(f"keep={keep!r} is not one of {', '.join(KEEP)}")
    started = time.perf_counter()
    model, checkpoint = load_model(model_path, runtime)
    rows, arrays = [], {}
    finite = all(value.isfinite().all() for value in checkpoint["state_dict"].values() if value.is_floating_point())
    status = checkpoint["status"] if finite else "diverged"
    if status == "diverged":
        # A diverged model's logits are NaN: record the state instead of meaningless numbers.
        for intervention, n in loaded_family.shapes().items():
            if keep == "logits":
                arrays[intervention] = np.full((n, checkpoint["num_classes"]), np.nan, dtype=np.float16)
            else:
                arrays[f"{intervention}#predicted"] = np.full(n, -1, dtype=np.int16)
                arrays[f"{intervention}#true_probability"] = np.full(n, np.nan, dtype=np.float16)
            rows.append({"intervention": intervention, "n": n, "accuracy": np.nan})
    else:
        for prediction in loaded_family(model, checkpoint["train_indices"]):
            if keep == "logits":
                arrays[prediction.intervention] = prediction.logits.cpu().numpy().astype(np.float16)
            else:
                probabilities = prediction.logits.float().softmax(1)
                true = probabilities.gather(1, prediction.labels.view(-1, 1).to(probabilities.device)).squeeze(1)
                arrays[f"{prediction.intervention}#true_probability"] = true.cpu().numpy().astype(np.float16)
            # The predicted class from the full-precision logits: float16 rounding can swap a near tie, and every
            # number the sheet reports (accuracy, disagreement, test noise) must come from the same predictions.
            arrays[f"{prediction.intervention}#predicted"] = prediction.logits.argmax(1).cpu().numpy().astype(np.int16)
            if prediction.indices is not None:
                arrays[f"{prediction.intervention}#indices"] = prediction.indices
            if prediction.own_labels:
                arrays[f"{prediction.intervention}#labels"] = prediction.labels.cpu().numpy()
            rows.append(metric_row(prediction, checkpoint["num_classes"]))
    table = pd.DataFrame(rows)
    table.insert(0, "split", loaded_family.split)
    table.insert(0, "family", family)
    table.insert(0, "run_id", checkpoint["run_id"])
    table["status"] = status
    # Each file whole or not at all: a file that exists is a finished evaluation, whatever happened to the job.
    write_atomically(Path(prediction_path), lambda temporary: _save_arrays(temporary, arrays))
    write_atomically(Path(metric_path), lambda temporary: table.to_csv(temporary, index=False))
    log.info(
        "%s %s: mean accuracy %.4f over %d interventions in %.1f s",
        checkpoint["run_id"],
        family,
        table["accuracy"].mean(),
        len(table),
        time.perf_counter() - started,
    )
    return table


def _save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as handle:  # a handle: np.savez would add .npz to the temporary name
        np.savez(handle, **arrays)


def evaluate_runs(
    family: str,
    model_paths: list[str],
    data_dir: str | Path,
    prediction_paths: list[str],
    metric_paths: list[str],
    runtime: Runtime,
    settings: dict[str, Any] | None = None,
    inputs: list[str] | None = None,
    split: str = "test",
) -> pd.DataFrame:
    """Apply one family on one split to every run of a job, loading its data once."""
    loaded_family = load_family(family, data_dir, runtime, settings, inputs, split)
    keep = (settings or {}).get("keep", "logits")
    tables = [
        evaluate_model(loaded_family, family, model_path, prediction_path, metric_path, runtime, keep)
        for model_path, prediction_path, metric_path in zip(model_paths, prediction_paths, metric_paths, strict=True)
    ]
    return pd.concat(tables, ignore_index=True)
