"""The metrics table: every run's metric files in one tidy table, plus the summary rows derived from them
(corruption mean, worst class, worst group, calibration) and what each run varied. Pandas only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from multisheets.interventions.names import ECE, GROUP_PREFIX, WORST_CLASS, WORST_GROUP, aggregates, group_of
from multisheets.interventions.registry import family_of
from multisheets.measures.per_model import worst_group_summary

# The metrics table's `metric` says what its `accuracy` column holds: the classifier's accuracy, the membership
# attack's accuracy (privacy), or the calibration error (derived `ece` rows). Metric files written before the
# column had this name call it `accuracy_kind`.
METRIC_OF_ACCURACY_KIND = {"classifier": "accuracy", "attack": "attack_accuracy"}


def collect_metrics(metric_paths: list[str | Path], runs: pd.DataFrame) -> pd.DataFrame:
    """All per-run metric files in one tidy table with derived summary rows, joined with what each run varied."""
    metrics = pd.concat([pd.read_csv(path) for path in metric_paths], ignore_index=True)
    if "accuracy_kind" in metrics:  # files from before the rename
        legacy = metrics.pop("accuracy_kind").map(METRIC_OF_ACCURACY_KIND)
        metrics["metric"] = metrics["metric"].fillna(legacy) if "metric" in metrics else legacy
    if "metric" not in metrics:  # only diverged runs: evaluation wrote NaN rows without metric columns
        metrics["metric"] = np.nan
    metrics = pd.concat([metrics.assign(derived=False), derived_metrics(metrics)], ignore_index=True)
    return metrics.merge(runs.drop(columns=["status"], errors="ignore"), on="run_id", how="left")


def derived_metrics(metrics: pd.DataFrame) -> pd.DataFrame:
    """Summary interventions computed from the measured ones, per run and split."""
    parts = [_derived_metrics(part).assign(split=split) for split, part in metrics.groupby("split", sort=False)]
    parts = [part for part in parts if len(part)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _derived_metrics(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per run of one split: the corruption summaries, the worst group, and the worst class and ECE of the clean
    split (each helper below says how)."""
    rows = [_instance_summaries(metrics), _worst_groups(metrics), _clean_summaries(metrics)]
    rows = [part for part in rows if part is not None]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def _instance_summaries(metrics: pd.DataFrame) -> pd.DataFrame | None:
    """``corruption=<type>`` / ``corruption_mean``: mean over the instances (equal sizes, so also the accuracy on
    their union), with `n` the number of distinct images (each is corrupted many times)."""
    numeric = ["accuracy", "loss", "mean_confidence", "ece", "worst_class_accuracy", "best_class_accuracy"]
    rows = []
    for name, instances in aggregates(list(metrics["intervention"].unique())).items():
        part = metrics[metrics["intervention"].isin(instances)]
        summary = part.groupby("run_id", sort=False).agg(
            **{column: (column, "mean") for column in numeric if column in part},
            n=("n", "max"),
            status=("status", "first"),
            metric=("metric", "first"),
        )
        rows.append(summary.reset_index().assign(intervention=name, family=family_of(name), derived=True))
    return pd.concat(rows, ignore_index=True) if rows else None


def _worst_groups(metrics: pd.DataFrame) -> pd.DataFrame | None:
    """``worst_group``: each run's lowest subgroup accuracy (fairness)."""
    groups = metrics[metrics["intervention"].str.startswith(GROUP_PREFIX)]
    if not len(groups):
        return None
    measured = groups.dropna(subset=["accuracy"])
    worst = measured.loc[[_worst_group_row(run_rows) for _, run_rows in measured.groupby("run_id")]]
    # Diverged runs have no accuracy in any group: they keep one NaN row so the table stays rectangular.
    unmeasured = groups[~groups["run_id"].isin(worst["run_id"])].drop_duplicates("run_id")
    worst = pd.concat([worst, unmeasured])
    return worst.assign(
        worst_group=worst["intervention"].map(group_of), intervention=WORST_GROUP, family="fairness", derived=True
    )


def _clean_summaries(metrics: pd.DataFrame) -> pd.DataFrame | None:
    """``worst_class``: the clean split's worst per-class accuracy (fairness), with its class size as n and the
    best-worst gap in `class_gap`; ``ece``: the clean split's calibration error (calibration)."""
    clean = metrics[metrics["intervention"] == "clean"]
    if "worst_class_accuracy" not in clean:
        return None
    common = {"run_id": clean["run_id"], "status": clean["status"], "derived": True}
    worst_class = pd.DataFrame(
        {
            "run_id": clean["run_id"],
            "family": "fairness",
            "intervention": WORST_CLASS,
            "accuracy": clean["worst_class_accuracy"],
            "metric": "accuracy",
            "n": clean["worst_class_n"],
            "worst_class": clean["worst_class"],
            "class_gap": clean["best_class_accuracy"] - clean["worst_class_accuracy"],
        }
        | common
    )
    ece = pd.DataFrame(
        {"run_id": clean["run_id"], "family": "calibration", "intervention": ECE, "accuracy": clean["ece"]}
        | {"metric": "ece", "n": clean["n"]}
        | common
    )
    return pd.concat([worst_class, ece], ignore_index=True)


def _worst_group_row(run_rows: pd.DataFrame) -> Any:
    """The label of one run's row for its lowest-accuracy group (ties: the first group, as groups are stored)."""
    worst = worst_group_summary(run_rows.set_index("intervention")["accuracy"])["worst_group"]
    return run_rows.index[run_rows["intervention"] == worst][0]


def intervention_families(metrics: pd.DataFrame) -> pd.Series:
    """Intervention -> the family the metrics table files it under (a derived summary under its own family:
    ``worst_class`` under fairness, ``ece`` under calibration); one name always has one family."""
    return metrics.drop_duplicates("intervention").set_index("intervention")["family"]
