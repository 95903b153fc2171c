"""Spread before and after model selection with extra specifications (rule selection_effect)."""

import pandas as pd

from multisheets.identity import write_manifest
from multisheets.logfile import log_to_file
from multisheets.plots import save, selection_effect

log_to_file(snakemake.log[0])
sheet = pd.read_parquet(snakemake.input.sheet)
steps = pd.read_csv(snakemake.input.steps)
title = (
    f"{snakemake.params.study}: does selecting on extra criteria (validation split) shrink multiplicity (test split)?"
)
figure = selection_effect(sheet, steps, title)
save(figure, snakemake.output.png, snakemake.output.pdf)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
