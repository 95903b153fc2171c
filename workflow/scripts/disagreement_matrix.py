"""Runs x runs disagreement of the base setting's seeds (rule disagreement_matrix)."""

import pandas as pd

from multisheets.figures.common import save
from multisheets.figures.sheet import disagreement_matrices
from multisheets.infra.logs import log_to_file
from multisheets.plan.identity import write_manifest

log_to_file(snakemake.log[0])
pairs = pd.read_parquet(snakemake.input.pairs)
figure = disagreement_matrices(pairs, f"{snakemake.params.study}: how often two seeds of the base setting disagree")
save(figure, snakemake.output.png, snakemake.output.pdf)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
