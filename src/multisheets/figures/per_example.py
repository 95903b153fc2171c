"""Figures of the per-example stage: measure distributions, ensemble size and abstention, one row per scenario.

Each takes a table written by `per_example` and shows the Rashomon sets (the tables also hold the selected runs),
one line per headline intervention coloured by family, as the epsilon curves do.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from multisheets.figures.common import (
    NO_RASHOMON_SET,
    TWO_COLUMNS,
    facet_labels,
    intervention_palette,
    message_figure,
)
from multisheets.interventions.names import headline_interventions
from multisheets.sheets.example_measures import PER_EXAMPLE_MEASURES


def _rashomon_rows(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The Rashomon sets' rows for the headline interventions, and the scenarios in table order."""
    table = table[table["selection"] == "rashomon"]
    table = table[table["intervention"].isin(headline_interventions(list(table["intervention"].unique())))]
    return table, list(table["scenario"].unique())


def _grid(n_rows: int, n_columns: int, height: float = 1.5):
    """Panels across the paper's full width, a row per scenario."""
    size = (TWO_COLUMNS, height * n_rows + 0.8)
    return plt.subplots(n_rows, n_columns, figsize=size, squeeze=False, layout="constrained")


def _finish(figure: plt.Figure, axes, title: str) -> plt.Figure:
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 5))
    figure.suptitle(title)
    return figure


def per_example_distributions(ecdf: pd.DataFrame, families: pd.Series, title: str) -> plt.Figure:
    """Per scenario (rows) and measure (columns): the share of examples whose value is at most x (ECDF)."""
    data, scenarios = _rashomon_rows(ecdf) if not ecdf.empty else (ecdf, [])
    if not scenarios:
        return message_figure(title, NO_RASHOMON_SET)
    measures = [
        name for name, measure in PER_EXAMPLE_MEASURES.items() if measure.distributed and name in set(data["measure"])
    ]
    figure, axes = _grid(len(scenarios), len(measures))
    palette = intervention_palette(families)
    for row, scenario in enumerate(scenarios):
        for column, measure in enumerate(measures):
            axis = axes[row, column]
            panel = data[(data["scenario"] == scenario) & (data["measure"] == measure)]
            for intervention, points in panel.groupby("intervention", sort=False):
                axis.step(
                    points["threshold"],
                    points["share_at_most"] * 100,
                    where="post",
                    color=palette.get(intervention),
                    label=intervention,
                )
            if measure == "rashomon_capacity":
                # Most examples sit near 1: stop the axis where every curve has (almost) reached 100 %.
                reached = panel[panel["share_at_most"] >= 0.999].groupby("intervention")["threshold"].min()
                axis.set_xlim(1, max(float(reached.max()) if len(reached) else 2.0, 1.5))
            axis.grid(alpha=0.3)
    facet_labels(axes, [PER_EXAMPLE_MEASURES[m].label for m in measures], _scenario_labels(data, scenarios))
    return _finish(figure, axes, f"{title}\ny: share of examples with a value ≤ x (%)")


def _scenario_labels(data: pd.DataFrame, scenarios: list[str]) -> list[str]:
    runs = data.groupby("scenario")["n_runs"].max()
    return [f"{scenario} ({int(runs[scenario])} runs)" for scenario in scenarios]


def _lines(axis, rows: pd.DataFrame, x: str, scale: float, palette: dict) -> None:
    """One line per intervention of a measure's rows against `x`, values multiplied by `scale`."""
    for intervention, points in rows.groupby("intervention", sort=False):
        axis.plot(
            points[x], points["value"] * scale, marker="o", ms=3, color=palette.get(intervention), label=intervention
        )


ENSEMBLE_PANELS = (
    ("accuracy", "mean accuracy of an ensemble (%)", 100),
    ("churn", "churn between ensembles (%)", 100),
    ("rashomon_capacity", "capacity between two ensembles", 1),
)


def ensemble_sizes(ensembles: pd.DataFrame, families: pd.Series, title: str) -> plt.Figure:
    """Accuracy, churn between independent ensembles and their Rashomon capacity against ensemble size k."""
    data, scenarios = _rashomon_rows(ensembles) if not ensembles.empty else (ensembles, [])
    if not scenarios:
        return message_figure(title, NO_RASHOMON_SET)
    figure, axes = _grid(len(scenarios), len(ENSEMBLE_PANELS))
    palette = intervention_palette(families)
    # Only sizes some scenario has runs for: a panel of sizes no set can fill shows nothing.
    largest = int(data["n_runs"].max())
    data = data[data["ensemble_size"] <= largest]
    sizes = sorted(data["ensemble_size"].unique())
    for row, scenario in enumerate(scenarios):
        rows = data[data["scenario"] == scenario]
        n_runs = int(rows["n_runs"].iloc[0])
        for column, (measure, _, scale) in enumerate(ENSEMBLE_PANELS):
            axis = axes[row, column]
            _lines(axis, rows[rows["measure"] == measure], "ensemble_size", scale, palette)
            axis.set_xscale("log", base=2)
            axis.set_xticks(sizes, [str(size) for size in sizes])
            axis.minorticks_off()
            # Beyond R/2 fewer than two disjoint ensembles fit: no churn, no capacity.
            if n_runs // 2 < max(sizes):
                axis.axvspan(n_runs // 2 + 0.5, max(sizes) * 1.5, color="0.92", zorder=0)
            axis.set_xlim(min(sizes) / 1.3, max(sizes) * 1.3)
            axis.set_xlabel("ensemble size k (runs, logits averaged)" if row == len(scenarios) - 1 else "")
            axis.grid(alpha=0.3)
    facet_labels(axes, [label for _, label, _ in ENSEMBLE_PANELS], _scenario_labels(data, scenarios))
    return _finish(figure, axes, f"{title}\nshaded: fewer than two disjoint ensembles fit")


ABSTENTION_PANELS = (
    ("coverage", "coverage: examples predicted (%)"),
    ("selective_accuracy", "accuracy of the vote where predicted (%)"),
    ("residual_disagreement", "disagreement where predicted (%)"),
)


def abstention_tradeoff(abstention: pd.DataFrame, families: pd.Series, title: str) -> plt.Figure:
    """Coverage, selective accuracy and residual disagreement against the agreement threshold tau."""
    data, scenarios = _rashomon_rows(abstention) if not abstention.empty else (abstention, [])
    if not scenarios:
        return message_figure(title, NO_RASHOMON_SET)
    figure, axes = _grid(len(scenarios), len(ABSTENTION_PANELS))
    palette = intervention_palette(families)
    for row, scenario in enumerate(scenarios):
        rows = data[data["scenario"] == scenario]
        for column, (measure, _) in enumerate(ABSTENTION_PANELS):
            axis = axes[row, column]
            _lines(axis, rows[rows["measure"] == measure], "threshold", 100, palette)
            axis.set_xlabel("τ: share of runs that must agree" if row == len(scenarios) - 1 else "")
            axis.set_xticks(np.round(sorted(rows["threshold"].unique()), 2))
            axis.grid(alpha=0.3)
    facet_labels(axes, [label for _, label in ABSTENTION_PANELS], _scenario_labels(data, scenarios))
    return _finish(figure, axes, title)
