"""Heatmaps of the multiplicity sheet (rule sheet_heatmap)."""

import pandas as pd

from multisheets.figures.common import save
from multisheets.figures.sheet import sheet_heatmaps
from multisheets.infra.logs import log_to_file
from multisheets.plan.identity import write_manifest
from multisheets.sheets.sheet_measures import wide_measures

log_to_file(snakemake.log[0])
sheet = pd.read_parquet(snakemake.input.sheet)
title = f"{snakemake.params.study}: spread over the Rashomon set (ε = {snakemake.params.epsilon:g})"
findings = pd.read_csv(snakemake.input.findings)  # the verdicts the findings table gives, not recomputed
figure = sheet_heatmaps(sheet, tuple(wide_measures()), title, findings)
save(figure, snakemake.output.png, snakemake.output.pdf)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
