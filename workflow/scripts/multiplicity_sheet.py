"""Rashomon sets, model selection and multiplicity measures per scenario and intervention (rule multiplicity_sheet)."""

from pathlib import Path

import numpy as np
import pandas as pd

from multisheets.infra.logs import log_to_file
from multisheets.plan.identity import write_manifest
from multisheets.sheets.findings import findings_table
from multisheets.sheets.predictions import prediction_table, stored_predictions
from multisheets.sheets.selection import parse_specifications
from multisheets.sheets.sheet import build_sheet, wide
from multisheets.sheets.views import findings_latex, sheet_latex, to_markdown
from multisheets.study.config import seed_streams_note

log_to_file(snakemake.log[0])
settings, out = snakemake.params.sheet, snakemake.output
metrics = pd.read_parquet(snakemake.input.metrics)
runs = pd.read_csv(snakemake.input.runs, keep_default_na=False)
test_labels = np.load(snakemake.input.test_labels)
read = snakemake.params.prediction_runs, snakemake.input.predictions  # ({run_id, family}, path) of each file
store = stored_predictions(*read, metrics, test_labels)
prediction_table(*read).to_csv(out.prediction_files, index=False)
tables = build_sheet(metrics, runs, store, settings, parse_specifications(snakemake.params.selection))
tables.sheet.to_parquet(out.sheet, index=False)
tables.sheet.to_csv(out.csv, index=False)
tables.rashomon_sets.to_csv(out.rashomon, index=False)
tables.selection_steps.to_csv(out.selection, index=False)
tables.epsilon_curves.to_parquet(out.epsilon_curves, index=False)
tables.flip_rates.to_parquet(out.flip_rates, index=False)
tables.disagreement.to_parquet(out.disagreement, index=False)
for measure, path in zip(snakemake.params.measures, out.wide):
    wide(tables.sheet, measure).to_csv(path)
findings = findings_table(tables.sheet, settings["confidence"])
findings.to_csv(out.findings, index=False)
Path(out.findings_tex).write_text(findings_latex(findings, snakemake.params.study))
Path(out.sheet_tex).write_text(sheet_latex(tables, tuple(snakemake.params.measures), snakemake.params.study))
notes = (seed_streams_note(snakemake.params.seed_streams),)
markdown = to_markdown(tables, tuple(snakemake.params.measures), settings["epsilon"], notes, findings)
Path(out.markdown).write_text(markdown)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
