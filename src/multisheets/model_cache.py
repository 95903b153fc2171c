"""A trained model is kept under its training identity, so that no run is ever trained twice.

A run's *training key* is a hash of everything that determines its weights: the resolved hyperparameters, the
derived init / data-order / augmentation seeds and the configured precision. Everything else about how it is
trained (device, job size, compile, determinism, thread count) is left out, so changing it never retrains;
each run's train log records what was used.

The workflow names a run's files after the key (``results/runs/<run_id>/model-<key>.pt``), so a changed
identity is simply a missing file. Every finished model is also written to the *model cache*
(``results/model_cache/<key>-<data fingerprint>.{pt,json}``), which Snakemake does not manage: when a job
fails or is interrupted, Snakemake removes the job's declared outputs, but the runs it finished stay in the
cache and the rerun restores them (a hard link) instead of training them again. The data fingerprint keeps a
model trained on other data from being restored.

Torch-free: the workflow computes keys while it plans jobs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from multisheets.study import Run

# Bump when a change to the training code makes old models differ from what the code now trains.
TRAINING_KEY_VERSION = 1
# Hyperparameters added after version 1, each with the value that trains exactly as the code did before it
# existed. At that value a hyperparameter is left out of the identity, so adding one to a study's code retrains
# none of its models; any other value is a new model. (Add `name: neutral value` here with the new default.)
ADDED_HYPERPARAMETERS: dict[str, Any] = {}
KEY_LENGTH = 12  # hex digits: 48 bits, far from collisions at any study size


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def training_identity(run: Run, precision: str) -> dict[str, Any]:
    """What determines a run's weights (its run id does not: the same setting may be named differently)."""
    hyperparameters = {
        name: value
        for name, value in run.hyperparameters.items()
        if name not in ADDED_HYPERPARAMETERS or value != ADDED_HYPERPARAMETERS[name]
    }
    return {
        "hyperparameters": hyperparameters,
        "seeds": run.seeds,
        "precision": precision,
        "version": TRAINING_KEY_VERSION,
    }


def training_key(run: Run, precision: str) -> str:
    return _digest(training_identity(run, precision))


def data_fingerprint(info: dict[str, Any]) -> str:
    """The prepared data a model was trained on: the source's checksum and how it was split (not its path, so a
    moved archive restores its models)."""
    return _digest({key: info[key] for key in ("checksum", "classes", "sizes", "val_size", "split_seed")})


def model_file(run_id: str, key: str) -> str:
    return f"results/runs/{run_id}/model-{key}.pt"


def train_log_file(run_id: str, key: str) -> str:
    return f"results/runs/{run_id}/train_log-{key}.json"


def runs_of_outputs(runs: list[Run], precision: str, model_paths: list[str]) -> tuple[list[Run], list[str]]:
    """The runs (and training keys) a training job's declared model files stand for."""
    by_id = {run.run_id: run for run in runs}
    chosen, keys = [], []
    for path in map(Path, model_paths):
        run = by_id[path.parent.name]
        key = training_key(run, precision)
        if path.name != f"model-{key}.pt":
            raise ValueError(f"{path} does not match run {run.run_id}'s training key {key}")
        chosen.append(run)
        keys.append(key)
    return chosen, keys


def recorded_job(train_log: str | Path) -> str | None:
    """The training job that wrote a run's declared files, or None when they do not both exist.

    The workflow keeps a finished run in the job that produced it, so that jobs (and their evaluation jobs)
    keep the same members as a study grows, and adding runs never reschedules finished ones.
    """
    train_log = Path(train_log)
    model = train_log.with_name(train_log.name.replace("train_log-", "model-").replace(".json", ".pt"))
    if not (train_log.exists() and model.exists()):
        return None
    try:
        return json.loads(train_log.read_text())["job"]
    except (ValueError, KeyError) as error:
        raise ValueError(
            f"{train_log} is not a train log this workflow wrote ({error!r}); delete it and "
            f"{model.name} to restore or retrain the run"
        ) from None


def write_atomically(path: Path, write) -> None:
    """`write(temporary_path)`, then rename: a reader (or a killed job) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_train_log(path: str | Path, summary: dict[str, Any]) -> None:
    """A run's train log (JSON), written whole or not at all."""
    write_atomically(Path(path), lambda temporary: temporary.write_text(json.dumps(summary, indent=2, default=str)))


def _link(source: Path, target: Path) -> None:
    """A hard link (no copy of the weights); a copy where the filesystem does not allow links."""

    def write(temporary: Path) -> None:
        try:
            os.link(source, temporary)
        except OSError:
            shutil.copy2(source, temporary)

    write_atomically(target, write)


class ModelCache:
    """Finished models by (training key, data fingerprint), outside what Snakemake removes."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def entry(self, key: str, data: str) -> tuple[Path, Path]:
        stem = self.root / f"{key}-{data}"
        return stem.with_suffix(".pt"), stem.with_suffix(".json")

    def contains(self, key: str, data: str) -> bool:
        # The log is written after the model, so an entry with a log is complete.
        model, log = self.entry(key, data)
        return log.exists() and model.exists()

    def adopt_unkeyed(self, key: str, data: str, run: Run, data_checksum: str, run_dir: str | Path) -> bool:
        """Cache a model from before training keys (``model.pt`` + ``train_log.json`` in the run's folder) when
        its log shows it is this run on this data: a study started with an earlier version is not retrained."""
        model, log = Path(run_dir) / "model.pt", Path(run_dir) / "train_log.json"
        if not (model.exists() and log.exists()):
            return False
        summary = json.loads(log.read_text())
        same = (
            summary.get("hyperparameters") == run.hyperparameters
            and summary.get("seeds") == run.seeds
            and summary.get("data_checksum") == data_checksum
        )
        if not same:
            return False
        cached_model, cached_log = self.entry(key, data)
        _link(model, cached_model)
        summary |= {"training_key": key, "data_fingerprint": data}
        write_train_log(cached_log, summary)
        return True

    def restore(self, key: str, data: str, model_path: str | Path, log_path: str | Path, job: str) -> None:
        """Put a cached run at its declared paths; its log names the job that declared it now."""
        model, log = self.entry(key, data)
        _link(model, Path(model_path))
        summary = json.loads(log.read_text()) | {"job": job}
        write_train_log(log_path, summary)
