"""Multiplicity sheets: how much runs that are equally good on validation differ under each intervention.

A sheet has one row per *scenario* (source of variation) and one column per intervention. Scenarios:
``seed`` (base setting, seeds only), one per dimension (the base runs plus the runs varying that dimension),
and ``all``. In each scenario the Rashomon set is the runs within epsilon of the best validation accuracy;
every measure is computed over that set. The long table (one row per scenario x intervention x measure) is
the source of truth; wide tables, Markdown and heatmaps are views of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from multisheets.interventions.names import CORRUPTION_MEAN, aggregates
from multisheets.interventions.registry import column_groups
from multisheets.measures import population
from multisheets.sheets.metrics_table import intervention_families
from multisheets.sheets.predictions import PredictionStore
from multisheets.sheets.selection import Specification, apply_selection
from multisheets.sheets.sheet_measures import MIN_RUNS, TOO_FEW_RUNS, RunSet, measure_values

VALIDATION = ("clean", "val")  # (intervention, split) that defines the Rashomon sets
REPORTED_SPLIT = "test"  # every sheet, curve and figure reports the test split; selection never reads it


def scenarios(runs: pd.DataFrame) -> dict[str, list[str]]:
    """Scenario name -> run ids. `dimension` is empty for base runs and names the varied key otherwise."""
    base = runs.loc[runs["dimension"].isna() | (runs["dimension"] == ""), "run_id"].tolist()
    result = {"seed": base}
    for dimension in runs["dimension"].dropna().unique():
        if dimension:
            result[str(dimension)] = base + runs.loc[runs["dimension"] == dimension, "run_id"].tolist()
    result["all"] = runs["run_id"].tolist()
    return result


def validation_accuracy(metrics: pd.DataFrame) -> pd.DataFrame:
    """Rows of clean accuracy on the validation split (the selection split)."""
    intervention, split = VALIDATION
    return metrics[(metrics["intervention"] == intervention) & (metrics["split"] == split)]


def rashomon_members(val: pd.DataFrame, epsilon: float) -> pd.Index:
    """Runs of `val` (a scenario's `validation_accuracy` rows) within epsilon of the best; NaN never qualifies."""
    return population.rashomon_set(val.set_index("run_id")["accuracy"], epsilon)


def sheet_interventions(metrics: pd.DataFrame, settings: dict[str, Any]) -> list[str]:
    """The sheet's columns grouped by family (clean, corruptions with their mean first, attacks, worst class,
    membership inference, shift, calibration); instances are replaced by their summaries unless asked for."""
    first = metrics[metrics["split"] == REPORTED_SPLIT].drop_duplicates("intervention")
    names = list(first["intervention"])
    if not settings["instances"]:
        summarised = {instance for group in aggregates(names).values() for instance in group}
        names = [name for name in names if name not in summarised]
    family, order = intervention_families(first), column_groups()
    rank = {name: order.index(family[name]) if family[name] in order else len(order) for name in names}
    return sorted(names, key=lambda name: (rank[name], name != CORRUPTION_MEAN))


def scenario_rows(
    name: str,
    members: pd.Index,
    reported: pd.DataFrame,
    columns: list[str],
    store: PredictionStore,
    reference: str | None,
    settings: dict[str, Any],
) -> list[dict[str, Any]]:
    """Long-form rows for one scenario: every measure for every sheet intervention over the given runs (test split).

    The measures are `sheet_measures.SHEET_MEASURES`. Those of test noise are NaN where no per-image classifier
    correctness exists (ECE, the membership attack's accuracy); predictive ones need stored predictions.
    """
    rows, run_ids = [], list(members)
    for intervention in columns:
        table = reported[reported["intervention"] == intervention].set_index("run_id").loc[run_ids]
        scored = per_image_scores(run_ids, intervention, table, store)
        accuracy = run_accuracies(table, scored)
        base = {
            "scenario": name,
            "intervention": intervention,
            "family": table["family"].iloc[0],
            "n": int(table["n"].median()),
            "n_runs": len(run_ids),
            "note": TOO_FEW_RUNS if len(run_ids) < MIN_RUNS else "",
        }
        if scored is not None:
            base["n"] = int(np.median((~np.isnan(scored[0])).sum(axis=1)))  # distinct images per run
        preds = store.predictions(run_ids, intervention) if store.has(intervention) else None
        reference_preds = None if preds is None else preds[run_ids.index(reference) if reference in run_ids else 0]
        values = measure_values(RunSet(accuracy, scored, preds, reference_preds, settings))
        for measure, (value, low, high) in values.items():
            rows.append({**base, "measure": measure, "value": value, "ci_low": low, "ci_high": high})
    return rows


def per_image_scores(run_ids: list[str], intervention: str, table: pd.DataFrame, store: PredictionStore):
    """Per-image scores of the runs (`PredictionStore.scores`) where the metric is a classifier's accuracy."""
    return store.scores(run_ids, intervention, table) if (table["metric"] == "accuracy").all() else None


def run_accuracies(table: pd.DataFrame, scored) -> np.ndarray:
    """Each run's accuracy from the same stored predictions as its disagreement and test noise (one source for
    every number of a sheet row); the metrics table's value where there are none (ECE, membership attacks)."""
    if scored is None:
        return table["accuracy"].to_numpy(dtype=float)
    return np.nanmean(scored[0], axis=1)


@dataclass
class SheetTables:
    """Everything the sheet stage writes; each table is tidy (one row per observation)."""

    sheet: pd.DataFrame  # scenario x selection x intervention x measure: value, CI, n, n_runs (test split)
    rashomon_sets: pd.DataFrame  # scenario x run: val accuracy, status, in_rashomon_set, selected
    selection_steps: pd.DataFrame  # scenario x step: specification, split read, runs before/after
    epsilon_curves: pd.DataFrame  # scenario x epsilon x intervention: set size, range, std, disagreement
    flip_rates: pd.DataFrame  # scenario x intervention x n_flipped: fraction of examples
    disagreement: pd.DataFrame  # run_a x run_b x intervention, for the base seeds


def build_sheet(
    metrics: pd.DataFrame,
    runs: pd.DataFrame,
    store: PredictionStore,
    settings: dict[str, Any],
    specifications: list[Specification] | None = None,
) -> SheetTables:
    """Rashomon sets and selection read the validation split; everything reported reads the test split."""
    epsilon = settings["epsilon"]
    sheet, rashomon_sets, steps, curves, flips = [], [], [], [], []
    columns = sheet_interventions(metrics, settings)
    interventions = [name for name in columns if store.has(name)]
    reported = metrics[metrics["split"] == REPORTED_SPLIT]
    all_val = validation_accuracy(metrics)
    study_scenarios = scenarios(runs)
    curve_points: dict[tuple, list[dict]] = {}
    for name, run_ids in study_scenarios.items():
        val = all_val[all_val["run_id"].isin(run_ids)]
        members = rashomon_members(val, epsilon)
        selected, scenario_steps = apply_selection(metrics, members, specifications or [])
        steps += [{"scenario": name, **step} for step in scenario_steps]
        rashomon_sets += [
            {
                "scenario": name,
                "run_id": row.run_id,
                "val_accuracy": row.accuracy,
                "status": row.status,
                "in_rashomon_set": row.run_id in members,
                "selected": row.run_id in selected,
                "epsilon": epsilon,
            }
            for row in val.itertuples()
        ]
        for label, subset in (("rashomon", members), ("selected", selected)):
            if len(subset) and (label == "rashomon" or specifications):
                # The reference is the subset's own best-on-validation run: after selection, the best survivor.
                reference = _best_on_validation(val, subset)
                sheet += [
                    {"selection": label, **row}
                    for row in scenario_rows(name, subset, reported, columns, store, reference, settings)
                ]
        # Sets are nested in epsilon and often equal from one epsilon to the next (and across scenarios: the
        # base runs, every run): a set's points are computed once.
        for curve_epsilon in settings["epsilon_curve"]:
            curve_members = rashomon_members(val, curve_epsilon)
            key = tuple(curve_members)
            if key not in curve_points:
                curve_points[key] = spread_rows(curve_members, interventions, reported, store)
            curves += [{"scenario": name, "epsilon": curve_epsilon, **row} for row in curve_points[key]]
        if len(members):
            flips += [{"scenario": name, **row} for row in flip_rows(members, interventions, store)]
    # Diverged runs have NaN logits (argmax 0): they would show up as fake disagreement.
    trained = all_val.dropna(subset=["accuracy"])["run_id"]
    base_runs = [run for run in study_scenarios["seed"] if run in set(trained)]
    return SheetTables(
        pd.DataFrame(sheet),
        pd.DataFrame(rashomon_sets),
        pd.DataFrame(steps),
        pd.DataFrame(curves),
        pd.DataFrame(flips),
        disagreement_pairs(base_runs, interventions, store),
    )


def _best_on_validation(val: pd.DataFrame, members: pd.Index) -> str | None:
    """The reference run for ambiguity/discrepancy: best validation accuracy, ties broken by run id."""
    candidates = val[val["run_id"].isin(members)]
    if candidates.empty:
        return None
    return candidates.sort_values(["accuracy", "run_id"], ascending=[False, True])["run_id"].iloc[0]


def spread_rows(members: pd.Index, interventions: list[str], metrics: pd.DataFrame, store: PredictionStore):
    """Set size, accuracy range/std and disagreement per intervention: one point of an epsilon curve."""
    rows = []
    for intervention in interventions if len(members) else []:
        table = metrics[metrics["intervention"] == intervention].set_index("run_id").loc[list(members)]
        spread = population.accuracy_spread(
            run_accuracies(table, per_image_scores(list(members), intervention, table, store))
        )
        preds = store.predictions(list(members), intervention)
        rows.append(
            {
                "intervention": intervention,
                "n_runs": len(members),
                "range": spread["range"],
                "std": spread["std"],
                "disagreement": population.mean_pairwise_disagreement(preds),
            }
        )
    return rows


def flip_rows(members: pd.Index, interventions: list[str], store: PredictionStore) -> list[dict]:
    """Per intervention: the fraction of examples on which k runs of the set disagree with the majority label."""
    rows = []
    for intervention in interventions:
        distribution = population.flip_rate_distribution(store.predictions(list(members), intervention))
        rows += [
            {"intervention": intervention, "n_runs": len(members), "n_flipped": int(k), "fraction": float(v)}
            for k, v in distribution.items()
        ]
    return rows


def disagreement_pairs(run_ids: list[str], interventions: list[str], store: PredictionStore) -> pd.DataFrame:
    """Runs x runs disagreement per intervention, long form (for the base seeds' disagreement matrices).

    Its size is (base seeds)^2 x interventions, so it is built from the matrices as arrays in one go: a row per
    pair as a Python dict took 39 s for 80 base seeds."""
    columns = ["intervention", "run_a", "run_b", "disagreement"]
    if not run_ids or not interventions:
        return pd.DataFrame(columns=columns)
    matrices = [population.disagreement_matrix(store.predictions(run_ids, name)) for name in interventions]
    r = len(run_ids)
    names = np.asarray(run_ids, dtype=object)
    return pd.DataFrame(
        {
            "intervention": np.repeat(np.asarray(interventions, dtype=object), r * r),
            "run_a": np.tile(np.repeat(names, r), len(interventions)),
            "run_b": np.tile(names, r * len(interventions)),
            "disagreement": np.concatenate([matrix.ravel() for matrix in matrices]).astype(np.float64),
        },
        columns=columns,
    )


def rashomon_summary(rashomon_sets: pd.DataFrame) -> pd.DataFrame:
    """Per scenario: runs, diverged runs (excluded), Rashomon-set size."""
    grouped = rashomon_sets.groupby("scenario", sort=False)
    return pd.DataFrame(
        {
            "n_runs": grouped.size(),
            "n_diverged": grouped["status"].apply(lambda status: int((status == "diverged").sum())),
            "rashomon_size": grouped["in_rashomon_set"].sum().astype(int),
            "selected": grouped["selected"].sum().astype(int),
        }
    ).reset_index()


def wide(sheet: pd.DataFrame, measure: str, selection: str = "rashomon") -> pd.DataFrame:
    """Scenarios x interventions for one measure over the Rashomon sets (or the selected survivors)."""
    if sheet.empty:
        return pd.DataFrame()
    table = sheet[(sheet["measure"] == measure) & (sheet["selection"] == selection)]
    result = table.pivot(index="scenario", columns="intervention", values="value")
    return result.loc[table["scenario"].unique(), table["intervention"].unique()]
