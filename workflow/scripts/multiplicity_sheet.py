"""Rashomon sets and multiplicity measures per scenario and intervention (rule multiplicity_sheet)."""

from pathlib import Path

import pandas as pd

from multisheets.data import load_split
from multisheets.runtime import setup_logging
from multisheets.sheets import PredictionStore, build_sheet, to_markdown, wide

setup_logging(snakemake.log[0])
metrics = pd.read_parquet(snakemake.input.metrics)
runs = pd.read_csv(snakemake.input.runs, keep_default_na=False)
data_dir = Path(snakemake.input.data[0]).parent
store = PredictionStore(
    paths=snakemake.input.predictions,
    families=dict(zip(metrics["intervention"], metrics["family"])),
    split_labels={split: load_split(data_dir, split).labels for split in ("val", "test")},
)
sheet, membership = build_sheet(metrics, runs, store, snakemake.params.sheet)
sheet.to_parquet(snakemake.output.long, index=False)
sheet.to_csv(snakemake.output.csv, index=False)
membership.to_csv(snakemake.output.rashomon, index=False)
for measure, path in zip(snakemake.params.measures, snakemake.output.wide):
    wide(sheet, measure).to_csv(path)
Path(snakemake.output.markdown).write_text(to_markdown(sheet, membership, tuple(snakemake.params.measures), snakemake.params.sheet["epsilon"]))
