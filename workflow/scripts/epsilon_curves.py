"""Rashomon-set size and spread against epsilon (rule epsilon_curves)."""

import pandas as pd

from multisheets.identity import write_manifest
from multisheets.logfile import log_to_file
from multisheets.metrics_table import intervention_families
from multisheets.plots import epsilon_curves, save

log_to_file(snakemake.log[0])
curves = pd.read_parquet(snakemake.input.curves)
metrics = pd.read_parquet(snakemake.input.metrics)
families = intervention_families(metrics)
figure = epsilon_curves(curves, families, f"{snakemake.params.study}: multiplicity against the Rashomon tolerance")
save(figure, snakemake.output.png, snakemake.output.pdf)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
