"""Figures of the seed population (`sheets.seed_population`): the GDE plot, and the between-run spread as seeds are
added. Both draw only the tables `tables/gde.csv` and `tables/seed_convergence.csv` hold."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from multisheets.figures.common import ONE_COLUMN, TWO_COLUMNS, message_figure
from multisheets.interventions.registry import colour_of

TOO_FEW_SEEDS = "Fewer than two completed runs of the base setting: no seed population to draw."


def gde_figure(gde: pd.DataFrame, title: str) -> plt.Figure:
    """Disagreement of two runs against test error, one point per intervention coloured by family, with the
    diagonal the generalisation disagreement equality predicts."""
    if gde.empty:
        return message_figure(title, TOO_FEW_SEEDS)
    figure, axis = plt.subplots(figsize=(ONE_COLUMN, ONE_COLUMN))
    error, disagreement = 100 * gde["test_error"], 100 * gde["disagreement"]
    top = float(max(error.max(), disagreement.max())) * 1.05
    axis.plot([0, top], [0, top], color="0.6", linewidth=0.8, linestyle="--", label="disagreement = error")
    for family, rows in gde.groupby("family", sort=False):
        axis.scatter(100 * rows["test_error"], 100 * rows["disagreement"], s=10, color=colour_of(family), label=family)
    for row in gde.itertuples():
        if row.intervention in ("clean", "corruption_mean"):  # the rest by colour: their labels would overlap
            axis.annotate(
                row.intervention, (100 * row.test_error, 100 * row.disagreement), fontsize=5, xytext=(2, -6),
                textcoords="offset points",
            )  # fmt: skip
    axis.set(xlim=(0, top), ylim=(0, top), xlabel="test error (%)", ylabel="mean pairwise disagreement (%)")
    axis.set_aspect("equal")
    axis.legend(frameon=False, loc="upper left")
    axis.set_title(f"{title}\n{int(gde['n_runs'].iloc[0])} seeds, one point per intervention")
    return figure


def convergence_figure(convergence: pd.DataFrame, title: str, interventions: list[str] | None = None) -> plt.Figure:
    """Left: the between-run std of true accuracy with its interval against the number of seeds; right: the
    observed range against the range test noise alone gives (`range_null`); one line per intervention."""
    if convergence.empty:
        return message_figure(title, TOO_FEW_SEEDS)
    names = interventions or default_interventions(convergence)
    figure, (left, right) = plt.subplots(1, 2, figsize=(TWO_COLUMNS, 2.4))
    colours = plt.get_cmap("tab10").colors  # one per line: several attacks would share their family's colour
    for name, colour in zip(names, colours):
        rows = convergence[convergence["intervention"] == name]
        std = rows[rows["measure"] == "between_run_std"].sort_values("n_seeds")
        left.plot(std["n_seeds"], 100 * std["value"], marker="o", color=colour, label=name)
        left.fill_between(std["n_seeds"], 100 * std["ci_low"], 100 * std["ci_high"], color=colour, alpha=0.12)
        observed = rows[rows["measure"] == "range"].sort_values("n_seeds")
        null = rows[rows["measure"] == "range_null"].sort_values("n_seeds")
        right.plot(observed["n_seeds"], 100 * observed["value"], marker="o", color=colour, label=name)
        right.plot(null["n_seeds"], 100 * null["value"], linestyle=":", color=colour)
    for axis in (left, right):
        axis.set_xscale("log")
        ticks = sorted(convergence["n_seeds"].unique())
        axis.set_xticks(ticks, [str(tick) for tick in ticks])
        axis.minorticks_off()
        axis.set_xlabel("seeds (the first k of the study)")
    # Two or three seeds give intervals tens of pp wide; the axis shows the rest of the curve.
    later = convergence[(convergence["measure"] == "between_run_std") & (convergence["n_seeds"] >= 5)]
    if not later.empty and later["ci_high"].notna().any():
        left.set_ylim(0, 100 * 1.3 * float(later["ci_high"].max()))
    left.set_ylabel("between-run std of true accuracy (pp)")
    left.set_title("σ̂ with its 95 % interval (0 = all spread is test noise)")
    right.set_ylabel("accuracy range (pp)")
    right.set_title("observed range (solid) and test noise alone (dotted)")
    left.legend(frameon=False, fontsize=5.5)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def default_interventions(convergence: pd.DataFrame) -> list[str]:
    """Clean, the corruption mean and the first attack of each norm: what the findings are usually read on."""
    names = list(dict.fromkeys(convergence["intervention"]))
    chosen = [name for name in ("clean", "corruption_mean") if name in names]
    for prefix in ("fgsm", "pgd_linf", "pgd_l2"):
        attacks = [name for name in names if name.startswith(prefix + "/")]
        chosen += attacks[:1]
    return chosen or names[: min(4, len(names))]
