"""The between-run spread of true accuracy as seeds are added (rule seed_convergence)."""

import pandas as pd

from multisheets.figures.common import save
from multisheets.figures.seed_population import convergence_figure
from multisheets.infra.logs import log_to_file
from multisheets.plan.identity import write_manifest

log_to_file(snakemake.log[0])
convergence = pd.read_csv(snakemake.input.convergence)
title = f"{snakemake.params.study}: seed-to-seed spread against the number of seeds (test split)"
save(convergence_figure(convergence, title), snakemake.output.png, snakemake.output.pdf)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
