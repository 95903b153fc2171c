"""The seed population: what the runs of one recipe that differ only by seed say about two published findings.

* **Test-set noise (Jordan 2023).** Seed-to-seed variation of test accuracy is about what sampling a finite test
  set gives: the sheet's between-run std of *true* accuracy, with its interval, against the number of seeds.
  `convergence_rows` recomputes the sheet's measures for the first k seeds (in seed order, so a study grown by
  seeds extends the curve instead of redrawing it): as k grows the interval should close in on the true spread.
* **Generalisation disagreement equality (Jiang et al. 2022; Nakkiran & Bansal 2020).** For independently seeded
  runs of one recipe, the expected disagreement of two runs equals their expected test error when their ensemble
  is class-aggregated calibrated. `gde_rows` gives, per intervention, the test error, the disagreement, their gap,
  and the calibration error of the runs' vote ensemble (CACE) that bounds the gap.

Both read the `seed` scenario's runs over every run that completed (not a Rashomon subset: the findings are about
the population). Torch-free, like every summary step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from multisheets.measures import population
from multisheets.sheets.predictions import PredictionStore
from multisheets.sheets.sheet import REPORTED_SPLIT, scenario_rows, scenarios, sheet_interventions, validation_accuracy

#: the population sizes the convergence curve is drawn at (and the study's own size)
SEED_COUNTS = (2, 3, 5, 10, 20, 30, 50, 100, 200, 500, 1000)
#: the measures the convergence table keeps (the rest of the sheet's rows are in the sheet)
CONVERGENCE_MEASURES = ("mean", "range", "range_null", "between_run_std", "p_between_run", "disagreement")
CONVERGENCE_COLUMNS = ["n_seeds", "scenario", "intervention", "family", "n", "n_runs", "note", "measure", "value",
                       "ci_low", "ci_high"]  # fmt: skip
GDE_COLUMNS = ["intervention", "family", "n_runs", "test_error", "disagreement", "gap", "ratio", "mean_ece",
               "cace", "within_cace"]  # fmt: skip


def seed_runs(metrics: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    """The completed runs of the base setting, in seed order."""
    base = runs[runs["run_id"].isin(scenarios(runs)["seed"])].sort_values("seed")
    completed = set(validation_accuracy(metrics).dropna(subset=["accuracy"])["run_id"])
    return [run for run in base["run_id"] if run in completed]


def seed_counts(total: int) -> list[int]:
    return sorted({k for k in SEED_COUNTS if k < total} | ({total} if total >= 2 else set()))


def convergence_rows(
    metrics: pd.DataFrame, runs: pd.DataFrame, store: PredictionStore, settings: dict[str, Any]
) -> pd.DataFrame:
    """Per number of seeds k and intervention, the sheet's measures of the first k seeds (long form, with
    intervals where the sheet has them)."""
    run_ids = seed_runs(metrics, runs)
    reported = metrics[metrics["split"] == REPORTED_SPLIT]
    columns = sheet_interventions(metrics, settings)
    rows = []
    for k in seed_counts(len(run_ids)):
        members = pd.Index(run_ids[:k])
        for row in scenario_rows("seed", members, reported, columns, store, run_ids[0], settings):
            if row["measure"] in CONVERGENCE_MEASURES:
                rows.append({"n_seeds": k, **row})
    return pd.DataFrame(rows, columns=CONVERGENCE_COLUMNS)


def gde_rows(
    metrics: pd.DataFrame,
    runs: pd.DataFrame,
    store: PredictionStore,
    settings: dict[str, Any],
    convergence: pd.DataFrame | None = None,
):
    """Per intervention of the sheet that has predictions: the runs' mean test error, their mean pairwise
    disagreement, the gap, the runs' mean ECE, the CACE of their vote ensemble, and whether the gap is within it
    (what the theory allows). Mean and disagreement are the `convergence` table's at all seeds (computed here when
    not given), so the step measures the whole population once."""
    run_ids = seed_runs(metrics, runs)
    if len(run_ids) < 2:
        return pd.DataFrame(columns=GDE_COLUMNS)
    if convergence is None:
        convergence = convergence_rows(metrics, runs, store, settings)
    reported = metrics[metrics["split"] == REPORTED_SPLIT]
    columns = [name for name in sheet_interventions(metrics, settings) if store.has(name)]
    everyone = convergence[convergence["n_seeds"] == len(run_ids)]
    values = everyone.pivot(index="intervention", columns="measure", values="value")
    rows = []
    for intervention in columns:
        if "disagreement" not in values.columns or pd.isna(values.loc[intervention, "disagreement"]):
            continue
        table = reported[(reported["intervention"] == intervention) & reported["run_id"].isin(run_ids)]
        family = table["family"].iloc[0]
        if (table["metric"] != "accuracy").any():
            continue  # a membership attack's accuracy is not a classifier's: no test error to compare with
        error = 1 - values.loc[intervention, "mean"]
        labels = store.labels(run_ids[0], intervention)
        cace = population.class_aggregated_calibration_error(store.predictions(run_ids, intervention), labels)
        disagreement = values.loc[intervention, "disagreement"]
        rows.append(
            {
                "intervention": intervention,
                "family": family,
                "n_runs": len(run_ids),
                "test_error": error,
                "disagreement": disagreement,
                "gap": disagreement - error,
                "ratio": disagreement / error if error > 0 else np.nan,
                "mean_ece": float(table["ece"].mean()) if "ece" in table else np.nan,
                "cace": cace,
                "within_cace": bool(abs(disagreement - error) <= cace),
            }
        )
    return pd.DataFrame(rows, columns=GDE_COLUMNS)
