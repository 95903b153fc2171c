"""The base setting's seeds as a population: convergence with the number of seeds, and the GDE table (rule
seed_population)."""

import numpy as np
import pandas as pd

from multisheets.infra.logs import log_to_file
from multisheets.plan.identity import write_manifest
from multisheets.sheets.predictions import stored_predictions
from multisheets.sheets.seed_population import convergence_rows, gde_rows

log_to_file(snakemake.log[0])
settings, out = snakemake.params.sheet, snakemake.output
metrics = pd.read_parquet(snakemake.input.metrics)
runs = pd.read_csv(snakemake.input.runs, keep_default_na=False)
read = snakemake.params.prediction_runs, snakemake.input.predictions
store = stored_predictions(*read, metrics, np.load(snakemake.input.test_labels))
convergence = convergence_rows(metrics, runs, store, settings)
convergence.to_csv(out.convergence, index=False)
gde_rows(metrics, runs, store, settings, convergence).to_csv(out.gde, index=False)
write_manifest(out.manifest, snakemake.params.manifest)  # last: the step is done
