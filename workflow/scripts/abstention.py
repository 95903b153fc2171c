"""Coverage, accuracy and disagreement when abstaining where the Rashomon set disagrees (rule abstention)."""

import pandas as pd

from multisheets.figures.common import save
from multisheets.figures.per_example import abstention_tradeoff
from multisheets.infra.logs import log_to_file
from multisheets.plan.identity import write_manifest
from multisheets.sheets.metrics_table import intervention_families

log_to_file(snakemake.log[0])
abstention = pd.read_parquet(snakemake.input.abstention)
metrics = pd.read_parquet(snakemake.input.metrics)
families = intervention_families(metrics)
title = f"{snakemake.params.study}: abstaining where fewer than τ of the Rashomon set agree (test split)"
save(abstention_tradeoff(abstention, families, title), snakemake.output.png, snakemake.output.pdf)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
