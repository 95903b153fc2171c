"""Heatmaps of the multiplicity sheet (rule sheet_heatmap)."""

import pandas as pd

from multisheets.plots import save, sheet_heatmaps
from multisheets.runtime import setup_logging

setup_logging(snakemake.log[0])
sheet = pd.read_parquet(snakemake.input[0])
title = f"{snakemake.params.study}: spread over the Rashomon set (ε = {snakemake.params.epsilon:g})"
save(sheet_heatmaps(sheet, ("range", "std", "disagreement"), title), snakemake.output.png, snakemake.output.pdf)
