"""Gather every run's metric files into results/<study>/tables/metrics.{parquet,csv} (rule collect_metrics)."""

import pandas as pd

from multisheets.infra.logs import log_to_file
from multisheets.plan.identity import write_manifest
from multisheets.sheets.metrics_table import collect_metrics

log_to_file(snakemake.log[0])
runs = pd.DataFrame(snakemake.params.runs)
metrics = collect_metrics(snakemake.input.metrics, runs)
metrics.to_parquet(snakemake.output.parquet, index=False)
metrics.to_csv(snakemake.output.csv, index=False)
runs.to_csv(snakemake.output.runs, index=False)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
