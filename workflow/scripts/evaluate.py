"""Evaluate one batch of runs under one intervention family (rules evaluate_<family>_<batch>)."""

import logging
from pathlib import Path

from multisheets.evaluate import evaluate_runs
from multisheets.runtime import make_runtime, setup_logging

setup_logging(snakemake.log[0], snakemake.threads)
table = evaluate_runs(
    snakemake.params.family,
    model_paths=snakemake.input.models,
    data_dir=Path(snakemake.input.data[0]).parent,
    prediction_paths=snakemake.output.predictions,
    metric_paths=snakemake.output.metrics,
    runtime=make_runtime(snakemake.params.train),
    settings=snakemake.params.settings,
    inputs=snakemake.input.prepared,
    split=snakemake.params.split,
)
logging.info("metrics:\n%s", table.to_string())
