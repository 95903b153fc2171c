"""Where every computed file goes under results/: one function per kind of file. Per-run and prepared files are
named after their keys (`identity`), so a path says which computation it holds, and studies share them. A study's
own tables, sheets, figures and manifests go in its folder, ``results/<study>/``, so that studies never overwrite
each other."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path("results")
MODEL_CACHE = RESULTS / "model_cache"  # kept by the training jobs, outside what Snakemake manages


#: folders of results/ that every study shares: no study may take one of these names
SHARED = ("data", "corruptions", "shift", "runs", "model_cache", "benchmarks")


def result(study: str, path: str) -> str:
    """A fixed path in a study's folder (the summary steps' tables, sheets and figures)."""
    if study in SHARED:
        raise ValueError(f"study: {study!r} is the name of a folder every study shares; name the study otherwise")
    return str(RESULTS / study / path)


def data_dir(data_key: str) -> Path:
    """The prepared arrays and ``dataset.json`` of one data key."""
    return RESULTS / "data" / data_key


def corrupted_set(corruption_key: str, split: str = "{split}", corruption: str = "{corruption}") -> str:
    """One corruption type of a held-out split, all severities (the defaults leave Snakemake's wildcards)."""
    return str(RESULTS / "corruptions" / corruption_key / split / f"{corruption}.npy")


def shift_set(shift_key: str, name: str) -> str:
    return str(RESULTS / "shift" / shift_key / f"{name}.npz")


def model_file(run_id: str, model: str) -> str:
    """A run's model; `model` is its model key (``identity.model_key``)."""
    return str(RESULTS / "runs" / run_id / f"model-{model}.pt")


def train_log_file(run_id: str, model: str) -> str:
    return str(RESULTS / "runs" / run_id / f"train_log-{model}.json")


def predictions_file(run_id: str, split: str, family: str, key: str) -> str:
    """A run's logits under one family on one split; `key` is the evaluation key."""
    return str(RESULTS / "runs" / run_id / "predictions" / split / f"{family}-{key}.npz")


def metrics_file(run_id: str, split: str, family: str, key: str) -> str:
    return str(RESULTS / "runs" / run_id / "metrics" / split / f"{family}-{key}.csv")


def manifest_file(study: str, name: str) -> str:
    """A summary step's manifest (``identity.manifest_name``)."""
    return result(study, f"manifests/{name}")
