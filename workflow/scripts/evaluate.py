"""Evaluate one training job's runs under one intervention family on one split (evaluate_<family>_<split>_<job>)."""

import logging

from multisheets.infra.interrupts import exit_with_parent
from multisheets.interventions.evaluate import evaluate_runs
from multisheets.models.runtime import make_runtime, setup_logging, torch_threads
from multisheets.study.config import runtime_settings

# How runs are evaluated is read from the config, not passed as a parameter: a new device or batch size is in no
# evaluation key, so it re-evaluates nothing.
settings = runtime_settings(snakemake.config)
setup_logging(snakemake.log[0], torch_threads(snakemake.threads, settings, snakemake.config["resources"]))
exit_with_parent()
table = evaluate_runs(
    snakemake.params.family,
    model_paths=snakemake.input.models,
    data_dir=snakemake.params.data_dir,
    prediction_paths=snakemake.output.predictions,
    metric_paths=snakemake.output.metrics,
    runtime=make_runtime(settings),
    settings=snakemake.params.settings | {"batch_size": snakemake.config["evaluate"]["batch_size"]},
    inputs=snakemake.input.prepared,
    split=snakemake.params.split,
)
logging.info("metrics:\n%s", table.to_string())
