"""Train one batch of runs in this process (rules train_<batch>)."""

from pathlib import Path

from multisheets.runtime import make_runtime, setup_logging
from multisheets.study import Run
from multisheets.train import train_batch

setup_logging(snakemake.log[0], snakemake.threads)
runs = [Run(**spec) for spec in snakemake.params.runs]
train_batch(
    runs,
    data_dir=Path(snakemake.input[0]).parent,
    model_paths=snakemake.output.models,
    log_paths=snakemake.output.logs,
    runtime=make_runtime(snakemake.params.train),
)
