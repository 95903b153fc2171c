"""What every figure shares: saving (PNG and a reproducible PDF), the figure that says why there is nothing to
plot, and the colours of interventions by family.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from multisheets.interventions.registry import colour_of

# The one style of every figure: sized for a paper's column (3.3 in) or its full width (7 in) and readable there
# without scaling, so a figure goes into a paper as it is.
ONE_COLUMN, TWO_COLUMNS = 3.3, 7.0  # inches
STYLE = {
    "font.size": 7,
    "axes.titlesize": 7.5,
    "axes.labelsize": 7,
    "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5,
    "legend.fontsize": 6.5,
    "figure.titlesize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "lines.markersize": 3,
    "pdf.fonttype": 42,  # TrueType in PDFs: editable text, accepted by publishers
    "savefig.dpi": 300,
}
# Non-negative quantities (spreads, disagreement) get a sequential map: light = none, dark = much.
SEQUENTIAL = "rocket_r"
plt.rcParams.update(STYLE)


def save(figure: plt.Figure, png: str | Path, pdf: str | Path | None = None) -> None:
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png, bbox_inches="tight")
    if pdf:
        # No creation date: the same tables give the same bytes, so a rerun shows what changed and what did not.
        figure.savefig(pdf, bbox_inches="tight", metadata={"CreationDate": None})
    plt.close(figure)


NO_RASHOMON_SET = "No run is in any Rashomon set: every run diverged (see the study's tables/rashomon.csv)."


def message_figure(title: str, message: str) -> plt.Figure:
    """A figure that says why there is nothing to plot, so a study whose runs all diverged still finishes."""
    figure, axis = plt.subplots(figsize=(TWO_COLUMNS, 1.2))
    axis.axis("off")
    axis.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    figure.suptitle(title)
    return figure


def facet_labels(axes, columns: list[str], rows: list[str]) -> None:
    """Label a grid of panels once: each column's quantity above its top panel, each row's scenario at its left, so
    that no label repeats in every panel (and long ones do not run into the neighbouring panel)."""
    width = max(int(110 / axes.shape[1]), 16)  # characters that fit above one panel at the paper's width
    for column, label in enumerate(columns):
        axes[0, column].set_title(textwrap.fill(label, width))
    for row, label in enumerate(rows):
        axes[row, 0].set_ylabel(label, fontweight="bold")
        for axis in axes[row, 1:]:
            axis.set_ylabel("")


def intervention_palette(families: pd.Series) -> dict[str, tuple]:
    """Each intervention gets a shade of its family's colour, so families stay recognisable across figures.

    `families`: intervention name -> family name.
    """
    palette = {}
    for family, members in families.groupby(families, sort=False):
        base = colour_of(family)
        shades = sns.light_palette(base, n_colors=len(members) + 2, reverse=True)[: len(members)]
        palette.update(dict(zip(members.index, shades)))
    return palette
