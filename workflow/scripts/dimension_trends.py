"""Accuracy against each varied hyperparameter, seeds as dots (rule dimension_trends)."""

import pandas as pd

from multisheets.figures.common import save
from multisheets.figures.sheet import dimension_trends
from multisheets.infra.logs import log_to_file
from multisheets.plan.identity import write_manifest

log_to_file(snakemake.log[0])
metrics = pd.read_parquet(snakemake.input.metrics)
rashomon_sets = pd.read_csv(snakemake.input.rashomon)
figure = dimension_trends(metrics, rashomon_sets, f"{snakemake.params.study}: accuracy per setting")
save(figure, snakemake.output.png, snakemake.output.pdf)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
