"""Spread before and after model selection with extra specifications (rule selection_effect)."""

import pandas as pd

from multisheets.figures.common import save
from multisheets.figures.sheet import selection_effect
from multisheets.infra.logs import log_to_file
from multisheets.plan.identity import write_manifest

log_to_file(snakemake.log[0])
sheet = pd.read_parquet(snakemake.input.sheet)
steps = pd.read_csv(snakemake.input.steps)
title = (
    f"{snakemake.params.study}: does selecting on extra criteria (validation split) shrink multiplicity (test split)?"
)
figure = selection_effect(sheet, steps, title)
save(figure, snakemake.output.png, snakemake.output.pdf)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
