"""Per-example measures, ensembles and abstention per set of runs and intervention (rule per_example_measures)."""

import numpy as np
import pandas as pd

from multisheets.infra.logs import log_to_file
from multisheets.plan.identity import write_manifest
from multisheets.sheets.per_example import build_per_example
from multisheets.sheets.predictions import stored_predictions

log_to_file(snakemake.log[0])
metrics = pd.read_parquet(snakemake.input.metrics)
files = pd.read_csv(snakemake.input.prediction_files, keep_default_na=False)  # the ones the sheet read
store = stored_predictions(
    files[["run_id", "family"]].to_dict("records"), list(files["path"]), metrics, np.load(snakemake.input.test_labels)
)
tables = build_per_example(
    metrics,
    pd.read_csv(snakemake.input.rashomon),
    store,
    snakemake.params.sheet,
    snakemake.params.with_selection,
    snakemake.threads,  # example chunks tallied at once; the tables are the same for any count
)
for name in ("measures", "ecdf", "ensembles", "abstention"):
    getattr(tables, name).to_parquet(getattr(snakemake.output, name), index=False)
write_manifest(snakemake.output.manifest, snakemake.params.manifest)  # last: the step is done
