"""Multiplicity sheets: how much runs that are equally good on validation differ under each intervention.

A sheet has one row per *scenario* (source of variation) and one column per intervention. Scenarios:
``seed`` (base setting, seeds only), one per dimension (the base runs plus the runs varying that dimension),
and ``all``. In each scenario the Rashomon set is the runs within epsilon of the best validation accuracy;
every measure is computed over that set. The long table (one row per scenario x intervention x measure) is
the source of truth; wide tables, Markdown and heatmaps are views of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from multisheets import measures
from multisheets.interventions import aggregates
from multisheets.selection import Specification, apply_selection

VAL_INTERVENTION = "val"
ACCURACY_MEASURES = ("mean", "range", "std", "iqr")


def collect_metrics(metric_paths: list[str | Path], runs: pd.DataFrame) -> pd.DataFrame:
    """All per-run metric files in one tidy table with derived summary rows, joined with what each run varied."""
    metrics = pd.concat([pd.read_csv(path) for path in metric_paths], ignore_index=True)
    metrics = pd.concat([metrics.assign(derived=False), derived_metrics(metrics)], ignore_index=True)
    return metrics.merge(runs.drop(columns=["status"], errors="ignore"), on="run_id", how="left")


def derived_metrics(metrics: pd.DataFrame) -> pd.DataFrame:
    """Summary interventions computed from the measured ones, per run.

    ``corruption=<type>`` / ``corruption_mean``: mean over the instances (equal sizes, so also the accuracy on
    their union); ``worst_class``: the clean test set's worst per-class accuracy (fairness), with its class
    size as n and the best-worst gap in `class_gap`.
    """
    rows = []
    numeric = ["accuracy", "loss", "mean_confidence", "ece", "worst_class_accuracy", "best_class_accuracy"]
    for name, instances in aggregates(list(metrics["intervention"].unique())).items():
        part = metrics[metrics["intervention"].isin(instances)]
        summary = part.groupby("run_id", sort=False).agg(
            **{column: (column, "mean") for column in numeric if column in part},
            n=("n", "sum"), status=("status", "first"), accuracy_kind=("accuracy_kind", "first"))
        rows.append(summary.reset_index().assign(intervention=name, family="corruption", derived=True))
    groups = metrics[metrics["intervention"].str.startswith("group=")]
    if len(groups):
        measured = groups.dropna(subset=["accuracy"])
        worst = measured.loc[measured.groupby("run_id")["accuracy"].idxmin()]
        # Diverged runs have no accuracy in any group: they keep one NaN row so the table stays rectangular.
        unmeasured = groups[~groups["run_id"].isin(worst["run_id"])].drop_duplicates("run_id")
        worst = pd.concat([worst, unmeasured])
        rows.append(worst.assign(worst_group=worst["intervention"].str.removeprefix("group="),
                                 intervention="worst_group", family="fairness", derived=True))
    clean = metrics[metrics["intervention"] == "clean"]
    if "worst_class_accuracy" in clean:
        rows.append(pd.DataFrame({
            "run_id": clean["run_id"], "family": "fairness", "intervention": "worst_class",
            "accuracy": clean["worst_class_accuracy"], "accuracy_kind": "classifier", "n": clean["worst_class_n"],
            "class_gap": clean["best_class_accuracy"] - clean["worst_class_accuracy"], "status": clean["status"],
            "derived": True,
        }))
        rows.append(pd.DataFrame({
            "run_id": clean["run_id"], "family": "calibration", "intervention": "ece", "accuracy": clean["ece"],
            "accuracy_kind": "ece", "n": clean["n"], "status": clean["status"], "derived": True,
        }))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def scenarios(runs: pd.DataFrame) -> dict[str, list[str]]:
    """Scenario name -> run ids. `dimension` is empty for base runs and names the varied key otherwise."""
    base = runs.loc[runs["dimension"].isna() | (runs["dimension"] == ""), "run_id"].tolist()
    result = {"seed": base}
    for dimension in runs["dimension"].dropna().unique():
        if dimension:
            result[str(dimension)] = base + runs.loc[runs["dimension"] == dimension, "run_id"].tolist()
    result["all"] = runs["run_id"].tolist()
    return result


def rashomon_members(metrics: pd.DataFrame, run_ids: list[str], epsilon: float) -> pd.Index:
    """Runs of a scenario within epsilon of its best validation accuracy; diverged runs (NaN) never qualify."""
    val = metrics[(metrics["intervention"] == VAL_INTERVENTION) & metrics["run_id"].isin(run_ids)]
    return measures.rashomon_set(val.set_index("run_id")["accuracy"], epsilon)


FAMILY_ORDER = ("clean", "corruption", "adversarial", "fairness", "subgroups", "privacy", "shift", "calibration")


def sheet_interventions(metrics: pd.DataFrame, settings: dict[str, Any]) -> list[str]:
    """The sheet's columns grouped by family (clean, corruptions with their mean first, attacks, worst class,
    membership inference, shift, calibration); instances are replaced by their summaries unless asked for."""
    first = metrics.drop_duplicates("intervention")
    names = list(first["intervention"])
    if not settings.get("instances", False):
        summarised = {instance for group in aggregates(names).values() for instance in group}
        names = [name for name in names if name not in summarised]
    family = dict(zip(first["intervention"], first["family"]))
    rank = {name: FAMILY_ORDER.index(family[name]) if family[name] in FAMILY_ORDER else len(FAMILY_ORDER)
            for name in names}
    return sorted(names, key=lambda name: (rank[name], name != "corruption_mean"))


def scenario_rows(
    name: str, members: pd.Index, metrics: pd.DataFrame, store: PredictionStore, reference: str | None,
    settings: dict[str, Any],
) -> list[dict[str, Any]]:
    """Long-form rows for one scenario: every measure for every sheet intervention over the given runs.

    Predictive measures and bootstrap intervals need per-example predictions; summaries without them
    (e.g. ``worst_class``) get accuracy measures only. Intervals resample the classifier's correctness, so
    they are skipped where `accuracy` is an attack's accuracy (membership inference).
    """
    rows, run_ids = [], list(members)
    for intervention in sheet_interventions(metrics, settings):
        table = metrics[(metrics["intervention"] == intervention)].set_index("run_id").loc[run_ids]
        accuracy = table["accuracy"].to_numpy(dtype=float)
        n = int(table["n"].median())
        base = {"scenario": name, "intervention": intervention, "family": table["family"].iloc[0],
                "n": n, "n_runs": len(run_ids)}
        spread = measures.accuracy_spread(accuracy)
        values = {measure: (spread[measure], np.nan, np.nan) for measure in ACCURACY_MEASURES}
        k = settings.get("expected_range_k", 5)
        values["expected_range"] = (measures.expected_range(accuracy, k), np.nan, np.nan)  # NaN when k > runs
        binomial = (table["accuracy_kind"] != "ece").all()  # ECE is no proportion: no binomial floor
        values["noise_floor"] = (float(measures.noise_floor(spread["mean"], n)) if binomial else np.nan, np.nan, np.nan)
        if store.has(intervention):
            preds = store.predictions(run_ids, intervention)
            if settings.get("bootstrap", 0) > 0 and len(run_ids) > 1 and (table["accuracy_kind"] == "classifier").all():
                correct = preds == store.labels(run_ids[0], intervention)[None, :]
                intervals = measures.bootstrap_spread_cis(correct, ("range", "std", "iqr"), settings["bootstrap"],
                                                          settings.get("seed", 0))
                for measure, (low, high) in intervals.items():
                    values[measure] = (spread[measure], low, high)
            reference_preds = preds[run_ids.index(reference)] if reference in run_ids else preds[0]
            values["disagreement"] = (measures.mean_pairwise_disagreement(preds), np.nan, np.nan)
            values["ambiguity"] = (measures.ambiguity(preds, reference_preds), np.nan, np.nan)
            values["discrepancy"] = (measures.discrepancy(preds, reference_preds), np.nan, np.nan)
        for measure, (value, low, high) in values.items():
            rows.append({**base, "measure": measure, "value": value, "ci_low": low, "ci_high": high})
    return rows


class PredictionStore:
    """Argmax predictions and labels per (run, intervention), read from the per-run logit files once each.

    A family file holds ``<intervention>`` logits and optionally ``<intervention>#indices`` (a subset of the
    test split) or ``<intervention>#labels`` (a different labelled set); otherwise `val` is labelled by the
    validation split and every other intervention by the test split.
    """

    def __init__(self, paths: list[str | Path], families: dict[str, str], split_labels: dict[str, np.ndarray]):
        # results/runs/<run_id>/predictions/<family>.npz
        self.paths = {(Path(path).parent.parent.name, Path(path).stem): Path(path) for path in paths}
        self.families, self.split_labels = families, split_labels
        self.groups = aggregates(list(families))
        self.cache: dict[tuple[str, str], dict[str, np.ndarray]] = {}

    def _file(self, run_id: str, intervention: str) -> dict[str, np.ndarray]:
        key = (run_id, self.families[intervention])
        if key not in self.cache:
            # Keep only argmax labels (int16): a study's predictions then fit in memory even with hundreds of runs.
            with np.load(self.paths[key]) as archive:
                self.cache[key] = {
                    name: archive[name] if "#" in name else archive[name].astype(np.float32).argmax(1).astype(np.int16)
                    for name in archive.files
                }
        return self.cache[key]

    def has(self, intervention: str) -> bool:
        return intervention in self.families or intervention in self.groups

    def predictions(self, run_ids: list[str], intervention: str) -> np.ndarray:
        """(R, N) predicted labels of the given runs; a summary concatenates its instances."""
        parts = self.groups.get(intervention, [intervention])
        return np.stack([np.concatenate([self._file(run_id, part)[part] for part in parts]) for run_id in run_ids])

    def labels(self, run_id: str, intervention: str) -> np.ndarray:
        return np.concatenate([self._instance_labels(run_id, part) for part in self.groups.get(intervention, [intervention])])

    def _instance_labels(self, run_id: str, intervention: str) -> np.ndarray:
        stored = self._file(run_id, intervention)
        if f"{intervention}#labels" in stored:
            return stored[f"{intervention}#labels"]
        labels = self.split_labels["val" if intervention == VAL_INTERVENTION else "test"]
        if f"{intervention}#indices" in stored:
            return labels[stored[f"{intervention}#indices"]]
        return labels


@dataclass
class SheetTables:
    """Everything the sheet stage writes; each table is tidy (one row per observation)."""

    sheet: pd.DataFrame  # scenario x selection x intervention x measure: value, CI, n, n_runs
    membership: pd.DataFrame  # scenario x run: val accuracy, status, Rashomon member, selected
    selection_steps: pd.DataFrame  # scenario x step: specification, runs before/after
    epsilon_curves: pd.DataFrame  # scenario x epsilon x intervention: set size, range, std, disagreement
    flip_rates: pd.DataFrame  # scenario x intervention x n_flipped: fraction of examples
    disagreement: pd.DataFrame  # run_a x run_b x intervention, for the base seeds


def build_sheet(metrics: pd.DataFrame, runs: pd.DataFrame, store: PredictionStore, settings: dict[str, Any],
                specifications: list[Specification] | None = None) -> SheetTables:
    epsilon = settings["epsilon"]
    sheet, membership, steps, curves, flips = [], [], [], [], []
    interventions = [name for name in sheet_interventions(metrics, settings) if store.has(name)]
    study_scenarios = scenarios(runs)
    for name, run_ids in study_scenarios.items():
        members = rashomon_members(metrics, run_ids, epsilon)
        selected, scenario_steps = apply_selection(metrics, members, specifications or [])
        steps += [{"scenario": name, **step} for step in scenario_steps]
        val = metrics[(metrics["intervention"] == VAL_INTERVENTION) & metrics["run_id"].isin(run_ids)]
        membership += [{"scenario": name, "run_id": row.run_id, "val_accuracy": row.accuracy, "status": row.status,
                        "member": row.run_id in members, "selected": row.run_id in selected, "epsilon": epsilon}
                       for row in val.itertuples()]
        reference = _best_on_validation(val, members)
        for label, subset in (("rashomon", members), ("selected", selected)):
            if len(subset) and (label == "rashomon" or specifications):
                sheet += [{"selection": label, **row}
                          for row in scenario_rows(name, subset, metrics, store, reference, settings)]
        for curve_epsilon in settings.get("epsilon_curve", [epsilon]):
            curve_members = rashomon_members(metrics, run_ids, curve_epsilon)
            curves += [{"scenario": name, "epsilon": curve_epsilon, **row}
                       for row in spread_rows(curve_members, interventions, metrics, store)]
        if len(members):
            flips += [{"scenario": name, **row} for row in flip_rows(members, interventions, store)]
    # Diverged runs have NaN logits (argmax 0): they would show up as fake disagreement.
    trained = metrics.loc[(metrics["intervention"] == VAL_INTERVENTION) & metrics["accuracy"].notna(), "run_id"]
    base_runs = [run for run in study_scenarios["seed"] if run in set(trained)]
    return SheetTables(pd.DataFrame(sheet), pd.DataFrame(membership), pd.DataFrame(steps), pd.DataFrame(curves),
                       pd.DataFrame(flips), disagreement_pairs(base_runs, interventions, store))


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
        table = metrics[(metrics["intervention"] == intervention) & metrics["run_id"].isin(members)]
        spread = measures.accuracy_spread(table["accuracy"].to_numpy(dtype=float))
        preds = store.predictions(list(members), intervention)
        rows.append({"intervention": intervention, "n_runs": len(members), "range": spread["range"],
                     "std": spread["std"], "disagreement": measures.mean_pairwise_disagreement(preds)})
    return rows


def flip_rows(members: pd.Index, interventions: list[str], store: PredictionStore) -> list[dict]:
    """Per intervention: the fraction of examples on which k runs of the set disagree with the majority label."""
    rows = []
    for intervention in interventions:
        distribution = measures.flip_rate_distribution(store.predictions(list(members), intervention))
        rows += [{"intervention": intervention, "n_runs": len(members), "n_flipped": int(k), "fraction": float(v)}
                 for k, v in distribution.items()]
    return rows


def disagreement_pairs(run_ids: list[str], interventions: list[str], store: PredictionStore) -> pd.DataFrame:
    """Runs x runs disagreement per intervention, long form (for the base seeds' disagreement matrices)."""
    rows = []
    for intervention in interventions if run_ids else []:
        matrix = measures.disagreement_matrix(store.predictions(run_ids, intervention))
        rows += [{"intervention": intervention, "run_a": a, "run_b": b, "disagreement": float(matrix[i, j])}
                 for i, a in enumerate(run_ids) for j, b in enumerate(run_ids)]
    return pd.DataFrame(rows, columns=["intervention", "run_a", "run_b", "disagreement"])


def rashomon_summary(membership: pd.DataFrame) -> pd.DataFrame:
    """Per scenario: runs, diverged runs (excluded), Rashomon-set size."""
    grouped = membership.groupby("scenario", sort=False)
    return pd.DataFrame({
        "n_runs": grouped.size(),
        "n_diverged": grouped["status"].apply(lambda status: int((status == "diverged").sum())),
        "rashomon_size": grouped["member"].sum().astype(int),
        "selected": grouped["selected"].sum().astype(int),
    }).reset_index()


def wide(sheet: pd.DataFrame, measure: str, selection: str = "rashomon") -> pd.DataFrame:
    """Scenarios x interventions for one measure over the Rashomon sets (or the selected survivors)."""
    table = sheet[(sheet["measure"] == measure) & (sheet["selection"] == selection)]
    result = table.pivot(index="scenario", columns="intervention", values="value")
    return result.loc[table["scenario"].unique(), table["intervention"].unique()]


def to_markdown(tables: SheetTables, measures_shown: tuple[str, ...], epsilon: float) -> str:
    """A human-readable sheet: accuracy spreads in percentage points, disagreement in percent."""
    parts = ["# Multiplicity sheet", "",
             f"Rashomon sets: runs with validation accuracy within {epsilon:g} of the scenario's best.", "",
             _markdown_table(rashomon_summary(tables.membership)), ""]
    noise = wide(tables.sheet, "noise_floor") * 100
    parts += ["Sampling-noise floor of one model's accuracy, sqrt(p(1-p)/n), in pp: spreads below it are not "
              "distinguishable from evaluating on a finite test set.", "", _markdown_table(noise.round(2).reset_index()), ""]
    selections = ["rashomon"] + (["selected"] if not tables.selection_steps.empty else [])
    for selection in selections:
        for measure in measures_shown:
            table = wide(tables.sheet, measure, selection) * 100
            parts += [f"## {measure} over the {'Rashomon sets' if selection == 'rashomon' else 'selected runs'} "
                      "(percentage points)", "", _markdown_table(table.round(2).reset_index()), ""]
    if not tables.selection_steps.empty:
        parts += ["## Model selection steps", "", _markdown_table(tables.selection_steps), ""]
    return "\n".join(parts)


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])
