"""The findings figure: σ̂ before and after model selection per scenario, with the verdict (rule findings)."""

import pandas as pd

from multisheets.figures.common import save
from multisheets.figures.findings import findings_figure
from multisheets.infra.logs import log_to_file
from multisheets.plan.identity import write_manifest

log_to_file(snakemake.log[0])
findings = pd.read_csv(snakemake.input.findings)
title = f"{snakemake.params.study}: does multiplicity persist after model selection? (test split)"
save(findings_figure(findings, title), snakemake.output.png, snakemake.output.pdf)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
