"""Training jobs: which runs share a process, and which job trained a run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from multisheets.plan.identity import model_key, training_key
from multisheets.study.runs import Run


def plan_jobs(runs: list[Run], recorded: dict[str, str | None], runs_per_job: int | None) -> dict[str, list[Run]]:
    """Group runs into training jobs (each job's evaluation jobs follow the same grouping).

    A finished run stays in the job `recorded` for it, so a growing study never reschedules finished runs (a
    job mixing finished and new runs would rerun as a whole). Runs not yet trained are split into new jobs of
    at most `runs_per_job` (None: all in one), grouped by setting with seeds innermost, and named after their
    members (`job_name`), so the same unfinished runs always form the same jobs.
    """
    jobs: dict[str, list[Run]] = {}
    pending = []
    for run in runs:
        if recorded.get(run.run_id):
            jobs.setdefault(recorded[run.run_id], []).append(run)
        else:
            pending.append(run)
    size = runs_per_job or max(len(pending), 1)
    for start in range(0, len(pending), size):
        chunk = pending[start : start + size]
        name = job_name(chunk)
        if name in jobs:  # a recorded job of other runs has this name already: tell them apart by their members
            name += "_" + hashlib.sha256("\n".join(run.run_id for run in chunk).encode()).hexdigest()[:6]
        jobs[name] = chunk
    return jobs


MAX_JOB_NAME = 60  # characters: rule names, log files and SLURM job names stay readable


def job_name(runs: list[Run]) -> str:
    """A readable name of a job's runs, by setting: ``base__seeds=0-4``, ``lr=0.05__seeds=0-2+lr=0.2__seeds=0``;
    a long one keeps its first setting and the number of runs (``base__seeds=0-4+11_runs``)."""
    by_setting: dict[str, list[int]] = {}
    for run in runs:
        by_setting.setdefault(run.setting, []).append(run.seed)
    name = "+".join(f"{setting}__seeds={_seed_ranges(seeds)}" for setting, seeds in by_setting.items())
    if len(name) > MAX_JOB_NAME:
        first, seeds = next(iter(by_setting.items()))
        name = f"{first}__seeds={_seed_ranges(seeds)}+{len(runs) - len(seeds)}_runs"
    return name


def _seed_ranges(seeds: list[int]) -> str:
    """``0-4`` for consecutive seeds, ``0,3,5-7`` otherwise."""
    parts, start = [], 0
    for index in range(1, len(seeds) + 1):
        if index == len(seeds) or seeds[index] != seeds[index - 1] + 1:
            first, last = seeds[start], seeds[index - 1]
            parts.append(str(first) if first == last else f"{first}-{last}")
            start = index
    return ",".join(parts)


def runs_of_outputs(runs: list[Run], precision: str, data: str, model_paths: list[str]) -> tuple[list[Run], list[str]]:
    """The runs (and training keys) a training job's declared model files stand for, on data of key `data`."""
    by_id = {run.run_id: run for run in runs}
    chosen, keys = [], []
    for path in map(Path, model_paths):
        run = by_id[path.parent.name]
        key = training_key(run, precision)
        if path.name != f"model-{model_key(key, data)}.pt":
            raise ValueError(f"{path} does not match run {run.run_id}'s model key {model_key(key, data)}")
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
