"""One evaluation job's runs (or one worker's share of them) under one family on one split: what
workflow/scripts/evaluate.py runs, in its own process or in one worker process per GPU (multisheets.infra.workers)."""

from __future__ import annotations

import logging
from typing import Any

import torch

from multisheets.infra.workers import worker_main
from multisheets.interventions.evaluate import evaluate_runs
from multisheets.models.runtime import make_runtime
from multisheets.study.config import runtime_settings

log = logging.getLogger(__name__)

#: The spec's lists with one entry per run, dealt out to the workers.
PER_RUN = ("model_paths", "prediction_paths", "metric_paths")


def run(spec: dict[str, Any]) -> None:
    """Evaluate the models `spec["model_paths"]` into their prediction and metric files."""
    config = spec["config"]
    # How runs are evaluated is read from the config: a new device or batch size is in no evaluation key, so it
    # re-evaluates nothing.
    settings = runtime_settings(config)
    torch.set_num_threads(int(spec["threads"]))
    table = evaluate_runs(
        spec["family"],
        model_paths=spec["model_paths"],
        data_dir=spec["data_dir"],
        prediction_paths=spec["prediction_paths"],
        metric_paths=spec["metric_paths"],
        runtime=make_runtime(settings),
        settings=spec["settings"] | {"batch_size": config["evaluate"]["batch_size"]},
        inputs=spec["inputs"],
        split=spec["split"],
    )
    log.info("metrics%s:\n%s", "" if spec.get("gpu") is None else f" (GPU {spec['gpu']})", table.to_string())


if __name__ == "__main__":
    worker_main(run)
