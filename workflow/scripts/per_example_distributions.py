"""Distributions (ECDF) of the per-example measures over the Rashomon sets (rule per_example_distributions)."""

import pandas as pd

from multisheets.identity import write_manifest
from multisheets.logfile import log_to_file
from multisheets.metrics_table import intervention_families
from multisheets.per_example_plots import per_example_distributions
from multisheets.plots import save

log_to_file(snakemake.log[0])
ecdf = pd.read_parquet(snakemake.input.ecdf)
metrics = pd.read_parquet(snakemake.input.metrics)
families = intervention_families(metrics)
title = f"{snakemake.params.study}: how much the Rashomon set's runs disagree on each example (test split)"
save(per_example_distributions(ecdf, families, title), snakemake.output.png, snakemake.output.pdf)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
