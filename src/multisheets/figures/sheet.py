"""Figures. Each takes a table from results/tables/ and returns a matplotlib Figure; nothing is computed here
that the table does not already hold."""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (also on headless cluster nodes)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from multisheets.figures.common import (  # noqa: E402
    NO_RASHOMON_SET,
    SEQUENTIAL,
    TWO_COLUMNS,
    facet_labels,
    intervention_palette,
    message_figure,
)
from multisheets.interventions.names import ECE, MEMBERSHIP_PREFIX, headline_interventions
from multisheets.sheets.findings import NOISE  # noqa: E402
from multisheets.sheets.sheet import wide  # noqa: E402
from multisheets.sheets.sheet_measures import MIN_RUNS, SHEET_MEASURES  # noqa: E402


def sheet_heatmaps(sheet: pd.DataFrame, measures: tuple[str, ...], title: str, findings: pd.DataFrame) -> plt.Figure:
    """One annotated heatmap per measure: interventions (rows, grouped by family) x scenarios (columns), over the
    Rashomon sets, at the paper's full width. Spreads of accuracy are hatched where they are not distinguishable
    from test noise (the verdicts of `findings`, the findings table); a blank cell has fewer than two runs.

    Interventions run down the page because a study has far more of them than scenarios.
    """
    if sheet.empty:
        return message_figure(title, NO_RASHOMON_SET)
    order = list(sheet["intervention"].unique())  # every panel keeps the same rows, blank where undefined
    figure, axes = plt.subplots(
        1, len(measures), figsize=(TWO_COLUMNS, 0.15 * len(order) + 1.3), squeeze=False, sharey=True
    )
    verdicts = findings[findings["selection"] == "rashomon"].pivot(
        index="intervention", columns="scenario", values="verdict"
    )
    for axis, measure in zip(axes[0], measures):
        table = wide(sheet, measure).T.reindex(order) * 100
        sns.heatmap(
            table,
            ax=axis,
            annot=True,
            fmt=".1f",
            cmap=SEQUENTIAL,
            vmin=0,  # non-negative: light is no spread
            cbar_kws={"label": SHEET_MEASURES[measure].label, "shrink": 0.7, "pad": 0.02},
            linewidths=0.4,
            annot_kws={"fontsize": 5},
        )
        if not SHEET_MEASURES[measure].needs_predictions:  # a spread of accuracies: does it exceed test noise?
            noise = verdicts.reindex(index=table.index, columns=table.columns) == NOISE
            for row, column in zip(*np.nonzero(noise.to_numpy())):
                axis.add_patch(plt.Rectangle((column, row), 1, 1, fill=False, hatch="////", lw=0, color="0.6"))
        axis.set_title(SHEET_MEASURES[measure].label)
        axis.set_xlabel("")
        axis.set_ylabel("")
        axis.tick_params(axis="y", rotation=0, length=0)
        axis.set_xticks(np.arange(table.shape[1]) + 0.5, table.columns, rotation=40, ha="right")
        axis.tick_params(axis="x", length=0)
    axes[0][0].set_yticks(np.arange(len(order)) + 0.5, [row_label(name) for name in order])
    figure.suptitle(f"{title}\nhatched: not distinguishable from test noise; blank: fewer than two runs")
    figure.tight_layout()
    return figure


def row_label(intervention: str) -> str:
    """An intervention's name with what its `accuracy` holds where that is not the classifier's accuracy."""
    if intervention == ECE:
        return "ece (ECE)"
    if intervention.startswith(MEMBERSHIP_PREFIX):
        return f"{intervention} (attack acc.)"
    return intervention


def accuracy_label(intervention: str) -> str:
    """What the `accuracy` column means for an intervention (an attack's accuracy for membership inference)."""
    if intervention == ECE:
        return "ECE, clean test (%)"
    if intervention.startswith(MEMBERSHIP_PREFIX):
        return f"{intervention} attack accuracy (%)"
    return f"{intervention} accuracy (%)"


def dimension_trends(metrics: pd.DataFrame, rashomon_sets: pd.DataFrame, title: str) -> plt.Figure:
    """Per dimension (columns) and intervention (rows): accuracy vs the hyperparameter's value, every seed a dot,
    the mean as a line. Runs in the dimension's Rashomon set are filled, the others hollow; the base value is
    marked "(base)"."""
    ok = metrics[(metrics["status"] != "diverged") & (metrics["split"] == "test")]  # figures report the test split
    if ok.empty:
        return message_figure(title, "Every run diverged: there is no accuracy to plot.")
    dimensions = [d for d in ok["dimension"].dropna().unique() if d and d in ok.columns]
    interventions = headline_interventions(list(ok["intervention"].unique()))
    figure, axes = plt.subplots(
        len(interventions),
        max(len(dimensions), 1),
        figsize=(min(TWO_COLUMNS, 2.3 * max(len(dimensions), 1) + 0.6), 1.7 * len(interventions) + 0.4),
        squeeze=False,
        sharey="row",
        layout="constrained",  # makes room for the title, which tight_layout let overlap the top panels
    )
    is_base = ok["dimension"].isna() | (ok["dimension"] == "")
    for column, dimension in enumerate(dimensions):
        in_set = rashomon_sets["in_rashomon_set"] & (rashomon_sets["scenario"] == dimension)
        members = set(rashomon_sets.loc[in_set, "run_id"])
        points = ok[is_base | (ok["dimension"] == dimension)].copy()
        base_value = str(points.loc[is_base, dimension].iloc[0]) if is_base.any() else None
        points["value"] = points[dimension].astype(str)
        order = sorted(points["value"].unique(), key=_numeric_first)
        labels = [f"{value}\n(base)" if value == base_value else value for value in order]
        for row, intervention in enumerate(interventions):
            axis = axes[row, column]
            panel = points[points["intervention"] == intervention].assign(accuracy_pct=lambda t: t["accuracy"] * 100)
            _trend_panel(axis, panel, order, members)
            axis.set_xticks(range(len(order)), labels)
            axis.set_xlabel(dimension if row == len(interventions) - 1 else "")
            axis.set_ylabel(accuracy_label(intervention) if column == 0 else "")
            if row == 0 and column == 0:
                axis.legend(loc="best")
    figure.suptitle(title)
    return figure


def _trend_panel(axis: plt.Axes, panel: pd.DataFrame, order: list[str], members: set[str]) -> None:
    """One dimension's accuracies under one intervention: the mean per value as a line, every run a dot (filled in
    the Rashomon set)."""
    sns.pointplot(
        data=panel,
        x="value",
        y="accuracy_pct",
        order=order,
        ax=axis,
        color="0.35",
        errorbar=None,
        markers="_",
        linestyles="-",
        linewidth=1.0,
    )
    for member, face in ((True, "C0"), (False, "none")):
        subset = panel[panel["run_id"].isin(members) == member]
        # Spread a value's seeds sideways so equal accuracies stay visible as separate runs.
        x = np.array([order.index(value) for value in subset["value"]], dtype=float)
        x += 0.06 * (subset["seed"].to_numpy() - panel["seed"].mean())
        axis.scatter(
            x,
            subset["accuracy_pct"],
            facecolor=face,
            edgecolor="C0",
            s=10,
            linewidth=0.6,
            zorder=3,
            label="in Rashomon set" if member else "outside",
        )


def _numeric_first(value: str):
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def epsilon_curves(curves: pd.DataFrame, families: pd.Series, title: str, epsilon: float | None = None) -> plt.Figure:
    """Rashomon-set size, accuracy range and disagreement against epsilon, one row per scenario; the study's own
    epsilon (the sheet's) is the dashed line."""
    if curves.empty:
        return message_figure(title, NO_RASHOMON_SET)
    curves = curves[curves["intervention"].isin(headline_interventions(list(curves["intervention"].unique())))]
    scenarios = list(curves["scenario"].unique())
    panels = (
        ("n_runs", "runs in Rashomon set", 1),
        ("range", "accuracy range (pp)", 100),
        ("disagreement", "mean pairwise disagreement (%)", 100),
    )
    figure, axes = plt.subplots(
        len(scenarios),
        3,
        figsize=(TWO_COLUMNS, 1.5 * len(scenarios) + 0.8),
        squeeze=False,
        sharex=True,
        layout="constrained",
    )
    palette = intervention_palette(families)
    for row, scenario in enumerate(scenarios):
        data = curves[curves["scenario"] == scenario]
        for column, (measure, _, scale) in enumerate(panels):
            axis = axes[row, column]
            for intervention, points in data.groupby("intervention", sort=False):
                axis.plot(
                    points["epsilon"] * 100,
                    points[measure] * scale,
                    marker="o",
                    ms=3,
                    color=palette.get(intervention),
                    label=intervention,
                )
                if measure == "n_runs":
                    break  # the set size does not depend on the intervention
            axis.set_xscale("log")
            if epsilon:
                axis.axvline(epsilon * 100, color="0.4", linestyle="--", linewidth=0.7)
            if measure == "n_runs":
                axis.yaxis.set_major_locator(MaxNLocator(integer=True))  # a count of runs
            if row == len(scenarios) - 1:
                axis.set_xlabel("ε: validation-accuracy tolerance (pp)")
    facet_labels(axes, [label for _, label, _ in panels], scenarios)
    handles, labels = axes[0, 1].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 5))
    figure.suptitle(f"{title} (dashed: the study's ε)" if epsilon else title)
    return figure


def disagreement_matrices(pairs: pd.DataFrame, title: str, max_panels: int = 4) -> plt.Figure:
    """Runs x runs prediction disagreement (%) of the base setting's seeds, one panel per intervention."""
    interventions = list(pairs["intervention"].unique())[:max_panels]
    shown = pairs[pairs["intervention"].isin(interventions) & (pairs["run_a"] != pairs["run_b"])]["disagreement"]
    top = float(shown.max() * 100) if len(shown) else 1.0  # one colour scale for every panel, from 0
    figure, axes = plt.subplots(
        1,
        max(len(interventions), 1),
        figsize=(TWO_COLUMNS, TWO_COLUMNS / max(len(interventions), 1) + 0.6),
        squeeze=False,
        layout="constrained",
    )
    for axis, intervention in zip(axes[0], interventions):
        matrix = (
            pairs[pairs["intervention"] == intervention].pivot(index="run_a", columns="run_b", values="disagreement")
            * 100
        )
        matrix.index = matrix.columns = [run.rsplit("__", 1)[-1] for run in matrix.columns]
        # The diagonal is zero by definition; masking it keeps the colour scale for the pairs.
        sns.heatmap(
            matrix,
            ax=axis,
            annot=len(matrix) <= 10,
            fmt=".1f",
            cmap=SEQUENTIAL,
            vmin=0,
            vmax=top,
            square=True,
            mask=np.eye(len(matrix), dtype=bool),
            cbar=axis is axes[0][len(interventions) - 1],  # one colour bar: the scale is shared
            cbar_kws={"label": "disagreement (%)", "shrink": 0.8},
            annot_kws={"fontsize": 5},
        )
        axis.set_title(textwrap.fill(intervention, 22))  # a corruption's name can be wider than its panel
        axis.set_xlabel("run")
        axis.set_ylabel("run" if axis is axes[0][0] else "")
    figure.suptitle(title)
    return figure


def selection_effect(sheet: pd.DataFrame, steps: pd.DataFrame, title: str, scenario: str = "all") -> plt.Figure:
    """Spread per intervention over the Rashomon set vs over the runs that survive the extra specifications (chosen
    on the validation split, measured on the test split): the observed range with the range test noise alone would
    give (|), the between-run std of true accuracy with its interval, and disagreement."""
    panels = (
        ("range", "range (pp); |: test noise alone"),
        ("between_run_std", "σ̂, between-run std (pp)"),
        ("disagreement", "disagreement (%)"),
    )
    if sheet.empty:
        return message_figure(title, NO_RASHOMON_SET)
    data = sheet[(sheet["scenario"] == scenario) & sheet["measure"].isin([m for m, _ in panels] + ["range_null"])]
    order = list(data["intervention"].unique())
    colours = {"rashomon": "0.5", "selected": "tab:red"}
    figure, axes = plt.subplots(
        1,
        len(panels),
        figsize=(TWO_COLUMNS, 0.16 * len(order) + 1.4),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    for axis, (measure, label) in zip(axes[0], panels):
        for offset, (selection, colour) in zip((-0.15, 0.15), colours.items()):
            points = data[(data["measure"] == measure) & (data["selection"] == selection)].set_index("intervention")
            points = points.reindex([name for name in order if name in points.index])
            y = np.array([order.index(name) for name in points.index]) + offset
            for name, row in zip(points.index, y):
                if points.loc[name, "n_runs"] < MIN_RUNS and selection == "selected":
                    axis.annotate(
                        "too few runs",
                        (0, row),
                        xycoords=("axes fraction", "data"),
                        va="center",
                        fontsize=5,
                        color=colour,
                    )
            axis.scatter(
                points["value"] * 100,
                y,
                color=colour,
                s=10,
                marker="o" if selection == "rashomon" else "D",
                label=selection,
                zorder=3,
                clip_on=False,  # a spread of 0 sits on the axis, whole
            )
            if measure == "between_run_std":
                axis.hlines(y, points["ci_low"] * 100, points["ci_high"] * 100, color=colour, linewidth=1)
            if measure == "range":
                null = data[(data["measure"] == "range_null") & (data["selection"] == selection)]
                null = null.set_index("intervention")["value"].reindex(points.index)
                axis.scatter(null * 100, y, color=colour, marker="|", s=60, zorder=3)
        axis.set_yticks(range(len(order)), order)
        axis.invert_yaxis()
        axis.set_xlabel(label)
        axis.set_xlim(left=0)
        axis.grid(axis="x", alpha=0.3)
    axes[0][0].legend(loc="best")
    sizes = steps[steps["scenario"] == scenario]
    chain = " → ".join(f"{row.specification} ({row.n_after})" for row in sizes.itertuples())
    start = sizes["n_before"].iloc[0] if len(sizes) else "?"
    figure.suptitle(f"{title}\nscenario '{scenario}': Rashomon set ({start}) → {chain}")
    return figure
