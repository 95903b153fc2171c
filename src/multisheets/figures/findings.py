"""The findings figure: per scenario, the between-run std of true accuracy before and after model selection, with
its interval and the verdict (filled: multiplicity beyond test noise). Drawn from `sheets/findings.csv`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from multisheets.figures.common import NO_RASHOMON_SET, TWO_COLUMNS, message_figure
from multisheets.interventions.names import headline_interventions
from multisheets.sheets.findings import NO_TEST, PERSISTS, TOO_FEW

# before (Rashomon set) and after selection: position offset, colour, marker
STEPS = {"rashomon": (-0.17, "0.45", "o", "Rashomon set"), "selected": (0.17, "tab:red", "D", "after selection")}


def findings_figure(findings: pd.DataFrame, title: str) -> plt.Figure:
    if findings.empty:
        return message_figure(title, NO_RASHOMON_SET)
    findings = findings[findings["verdict"] != NO_TEST]  # ECE, membership: no σ̂ to show
    order = headline_interventions(list(findings["intervention"].unique()))
    scenarios = list(findings["scenario"].unique())
    figure, axes = plt.subplots(
        1,
        len(scenarios),
        figsize=(TWO_COLUMNS, 0.22 * len(order) + 1.2),
        squeeze=False,
        sharey=True,
        sharex=True,
        layout="constrained",
    )
    for axis, scenario in zip(axes[0], scenarios):
        rows = findings[(findings["scenario"] == scenario) & findings["intervention"].isin(order)]
        for selection, (offset, colour, marker, label) in STEPS.items():
            step = rows[rows["selection"] == selection].set_index("intervention").reindex(order)
            if step["n_runs"].isna().all():
                continue
            y = np.arange(len(order)) + offset
            value, low, high = (
                step[c].to_numpy() * 100 for c in ("between_run_std", "between_run_std_low", "between_run_std_high")
            )
            axis.hlines(y, low, high, color=colour, linewidth=0.8)
            persists = (step["verdict"] == PERSISTS).to_numpy()
            shown = dict(marker=marker, s=14, zorder=3, clip_on=False)  # a σ̂ of 0 sits on the axis, whole
            axis.scatter(value[persists], y[persists], color=colour, label=label, **shown)
            axis.scatter(value[~persists], y[~persists], facecolor="white", edgecolor=colour, **shown)
            for row in np.flatnonzero((step["verdict"] == TOO_FEW).to_numpy()):
                axis.annotate(
                    "too few runs",
                    (0.02, y[row]),
                    xycoords=("axes fraction", "data"),
                    va="center",
                    fontsize=5,
                    color=colour,
                )
        runs = rows.groupby("selection")["n_runs"].max()
        counts = " → ".join(str(int(runs[s])) for s in STEPS if s in runs.index)
        axis.set_title(f"{scenario} ({counts} runs)")
        axis.set_yticks(range(len(order)), order)
        axis.set_xlim(left=0)
        axis.set_xlabel("σ̂, between-run std (pp)")
        axis.grid(axis="x", alpha=0.3)
    axes[0][0].invert_yaxis()
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=2)
    figure.suptitle(f"{title}\nfilled: beyond test noise (Holm-adjusted); hollow: not distinguishable from it")
    return figure
