"""Accuracy and multiplicity of ensembles of k runs against k (rule ensemble_sizes)."""

import pandas as pd

from multisheets.figures.common import save
from multisheets.figures.per_example import ensemble_sizes
from multisheets.infra.logs import log_to_file
from multisheets.plan.identity import write_manifest
from multisheets.sheets.metrics_table import intervention_families

log_to_file(snakemake.log[0])
ensembles = pd.read_parquet(snakemake.input.ensembles)
metrics = pd.read_parquet(snakemake.input.metrics)
families = intervention_families(metrics)
title = f"{snakemake.params.study}: do ensembles of disjoint runs agree more? (test split)"
save(ensemble_sizes(ensembles, families, title), snakemake.output.png, snakemake.output.pdf)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
