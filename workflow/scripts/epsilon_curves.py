"""Rashomon-set size and spread against epsilon (rule epsilon_curves)."""

import pandas as pd

from multisheets.figures.common import save
from multisheets.figures.sheet import epsilon_curves
from multisheets.infra.logs import log_to_file
from multisheets.plan.identity import write_manifest
from multisheets.sheets.metrics_table import intervention_families

log_to_file(snakemake.log[0])
curves = pd.read_parquet(snakemake.input.curves)
metrics = pd.read_parquet(snakemake.input.metrics)
families = intervention_families(metrics)
title = f"{snakemake.params.study}: multiplicity against the Rashomon tolerance"
figure = epsilon_curves(curves, families, title, snakemake.params.epsilon)
save(figure, snakemake.output.png, snakemake.output.pdf)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
