"""Distributions (ECDF) of the per-example measures over the Rashomon sets (rule per_example_distributions)."""

import pandas as pd

from multisheets.figures.common import save
from multisheets.figures.per_example import per_example_distributions
from multisheets.infra.logs import log_to_file
from multisheets.plan.identity import write_manifest
from multisheets.sheets.metrics_table import intervention_families

log_to_file(snakemake.log[0])
ecdf = pd.read_parquet(snakemake.input.ecdf)
metrics = pd.read_parquet(snakemake.input.metrics)
families = intervention_families(metrics)
title = f"{snakemake.params.study}: how much the Rashomon set's runs disagree on each example (test split)"
save(per_example_distributions(ecdf, families, title), snakemake.output.png, snakemake.output.pdf)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
