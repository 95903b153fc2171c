"""What every figure shares: saving (PNG and a reproducible PDF), the figure that says why there is nothing to
plot, and the colours of interventions by family.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from multisheets.interventions.registry import colour_of


def save(figure: plt.Figure, png: str | Path, pdf: str | Path | None = None) -> None:
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png, dpi=200, bbox_inches="tight")
    if pdf:
        # No creation date: the same tables give the same bytes, so a rerun shows what changed and what did not.
        figure.savefig(pdf, bbox_inches="tight", metadata={"CreationDate": None})
    plt.close(figure)


NO_RASHOMON_SET = "No run is in any Rashomon set: every run diverged (see results/tables/rashomon.csv)."


def message_figure(title: str, message: str) -> plt.Figure:
    """A figure that says why there is nothing to plot, so a study whose runs all diverged still finishes."""
    figure, axis = plt.subplots(figsize=(6, 1.6))
    axis.axis("off")
    axis.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=10)
    figure.suptitle(title, fontsize=11)
    return figure


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
