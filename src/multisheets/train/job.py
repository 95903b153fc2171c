"""One training job's runs (or one worker's share of them): what workflow/scripts/train.py runs, in its own
process or in one worker process per GPU (multisheets.infra.workers)."""

from __future__ import annotations

from typing import Any

import torch

from multisheets.infra.workers import worker_main
from multisheets.models.runtime import make_runtime
from multisheets.study.config import runtime_settings
from multisheets.study.runs import expand_study
from multisheets.train.loop import train_batch
from multisheets.train.model_cache import ModelCache

#: The spec's lists with one entry per run, dealt out to the workers.
PER_RUN = ("run_ids", "keys", "model_paths", "log_paths")


def run(spec: dict[str, Any]) -> None:
    """Train the runs `spec["run_ids"]` of the study `spec["config"]` (training keys `spec["keys"]`) into their
    model and log files, restoring any run the model cache holds."""
    config = spec["config"]
    settings = runtime_settings(config)  # how runs are trained comes from the config, so changing it retrains nothing
    torch.set_num_threads(int(spec["threads"]))
    by_id = {run.run_id: run for run in expand_study(config)}
    runs = [by_id[run_id] for run_id in spec["run_ids"]]
    train_batch(
        runs,
        data_dir=spec["data_dir"],
        model_paths=spec["model_paths"],
        log_paths=spec["log_paths"],
        runtime=make_runtime(settings),
        cache=ModelCache(spec["model_cache"]),
        keys=spec["keys"],
        job=spec["job"],
        gpu=spec.get("gpu"),
    )


if __name__ == "__main__":
    worker_main(run)
