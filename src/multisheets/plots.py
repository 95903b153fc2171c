"""Figures. Each takes a table from results/tables/ and returns a matplotlib Figure; nothing is computed here
that the table does not already hold."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (also on headless cluster nodes)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from multisheets.sheets import wide  # noqa: E402

MEASURE_LABELS = {
    "range": "accuracy range, max − min (pp)",
    "std": "accuracy std over runs (pp)",
    "disagreement": "mean pairwise disagreement (%)",
    "iqr": "accuracy IQR (pp)",
    "expected_range": "expected range of k runs (pp)",
    "ambiguity": "ambiguity (%)",
    "discrepancy": "discrepancy (%)",
}


def save(figure: plt.Figure, png: str | Path, pdf: str | Path | None = None) -> None:
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png, dpi=200, bbox_inches="tight")
    if pdf:
        figure.savefig(pdf, bbox_inches="tight")
    plt.close(figure)


def sheet_heatmaps(sheet: pd.DataFrame, measures: tuple[str, ...], title: str) -> plt.Figure:
    """One annotated heatmap per measure: scenarios (rows) x interventions (columns), values in pp or %."""
    n_interventions = sheet["intervention"].nunique()
    n_scenarios = sheet["scenario"].nunique()
    width = max(4.0, 0.9 * n_interventions + 2.5)
    figure, axes = plt.subplots(
        1, len(measures), figsize=(width * len(measures), 0.45 * n_scenarios + 1.8), squeeze=False
    )
    for axis, measure in zip(axes[0], measures):
        table = wide(sheet, measure) * 100
        sns.heatmap(table, ax=axis, annot=True, fmt=".2f", cmap="viridis", cbar_kws={"label": MEASURE_LABELS[measure]},
                    linewidths=0.5, annot_kws={"fontsize": 8})
        axis.set_title(MEASURE_LABELS[measure], fontsize=10)
        axis.set_xlabel("intervention")
        axis.set_ylabel("source of variation (Rashomon set)")
        axis.tick_params(axis="x", rotation=45)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return figure


def dimension_trends(metrics: pd.DataFrame, membership: pd.DataFrame, title: str) -> plt.Figure:
    """Per dimension (columns) and intervention (rows): accuracy vs value, every seed a dot, mean as a line.

    Runs in the dimension's Rashomon set are filled; the others are hollow. Base runs appear at the base value.
    """
    ok = metrics[metrics["status"] != "diverged"]
    dimensions = [d for d in ok["dimension"].dropna().unique() if d]
    interventions = [i for i in ok["intervention"].unique()]
    if not dimensions:
        dimensions = ["seed"]
    figure, axes = plt.subplots(
        len(interventions), len(dimensions), figsize=(3.2 * len(dimensions), 2.6 * len(interventions)),
        squeeze=False, sharey="row",
    )
    base_rows = ok[ok["dimension"].isna() | (ok["dimension"] == "")]
    for column, dimension in enumerate(dimensions):
        members = set(membership.loc[(membership["scenario"] == dimension) & membership["member"], "run_id"])
        for row, intervention in enumerate(interventions):
            axis = axes[row, column]
            varied = ok[(ok["dimension"] == dimension) & (ok["intervention"] == intervention)]
            base = base_rows[base_rows["intervention"] == intervention].assign(value="base")
            points = pd.concat([base, varied], ignore_index=True)
            points["accuracy_pct"] = points["accuracy"] * 100
            points["member"] = points["run_id"].isin(members)
            order = ["base"] + sorted(varied["value"].astype(str).unique(), key=_numeric_first)
            points["value"] = points["value"].astype(str)
            sns.pointplot(data=points, x="value", y="accuracy_pct", order=order, ax=axis, color="0.3",
                          errorbar=None, markers="_", linestyles="-")
            for member, style in ((True, {"facecolor": "C0"}), (False, {"facecolor": "none"})):
                subset = points[points["member"] == member]
                x = [order.index(v) for v in subset["value"]]
                jitter = np.linspace(-0.12, 0.12, len(x)) if len(x) > 1 else np.zeros(len(x))
                axis.scatter(np.asarray(x) + jitter, subset["accuracy_pct"], edgecolor="C0", s=22, zorder=3,
                             label="Rashomon set" if member else "outside", **style)
            axis.set_xlabel(dimension if row == len(interventions) - 1 else "")
            axis.set_ylabel(f"{intervention} accuracy (%)" if column == 0 else "")
            if row == 0 and column == 0:
                axis.legend(fontsize=7, loc="best")
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return figure


def _numeric_first(value: str):
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)
