"""Disagreement against test error across interventions: the GDE plot (rule gde)."""

import pandas as pd

from multisheets.figures.common import save
from multisheets.figures.seed_population import gde_figure
from multisheets.infra.logs import log_to_file
from multisheets.plan.identity import write_manifest

log_to_file(snakemake.log[0])
gde = pd.read_csv(snakemake.input.gde)
title = f"{snakemake.params.study}: disagreement of two seeds against test error"
save(gde_figure(gde, title), snakemake.output.png, snakemake.output.pdf)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
