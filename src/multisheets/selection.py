"""Model selection with extra specifications, applied in order to a Rashomon set.

The paper's question: does multiplicity survive when, among equally accurate models, we also demand e.g.
robustness or fairness? Each specification filters the current set of runs on one metric of one
intervention; the steps and their survivors are recorded so a sheet of the survivors can sit next to the
unfiltered one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

RULES = ("top_fraction", "at_least", "at_most", "at_least_quantile")


@dataclass(frozen=True)
class Specification:
    intervention: str
    keep: str
    value: float
    metric: str = "accuracy"

    def describe(self) -> str:
        target = f"{self.metric}({self.intervention})"
        return {
            "top_fraction": f"{target}: top {self.value:.0%}",
            "at_least": f"{target} ≥ {self.value:g}",
            "at_most": f"{target} ≤ {self.value:g}",
            "at_least_quantile": f"{target} ≥ its {self.value:g} quantile",
        }[self.keep]


def parse_specifications(entries: list[dict[str, Any]]) -> list[Specification]:
    specifications = []
    for index, entry in enumerate(entries):
        spec = Specification(**entry)
        if spec.keep not in RULES:
            raise ValueError(f"selection[{index}].keep={spec.keep!r} is not one of {', '.join(RULES)}")
        if spec.keep in ("top_fraction", "at_least_quantile") and not 0 < spec.value <= 1:
            raise ValueError(f"selection[{index}].value={spec.value} must be in (0, 1] for {spec.keep}")
        specifications.append(spec)
    return specifications


def apply_selection(
    metrics: pd.DataFrame, members: pd.Index, specifications: list[Specification]
) -> tuple[pd.Index, list[dict[str, Any]]]:
    """Filter `members` by each specification in turn; return the survivors and one record per step.

    Ties at a threshold are kept, so a step never breaks a tie arbitrarily. A specification naming an
    intervention or metric that the metrics table lacks is an error that names it.
    """
    survivors, steps = pd.Index(members), []
    interventions = set(metrics["intervention"])
    for step, spec in enumerate(specifications, start=1):
        if spec.intervention not in interventions:
            raise ValueError(f"selection step {step}: no intervention {spec.intervention!r} in the metrics "
                             f"(available: {sorted(interventions)})")
        if spec.metric not in metrics.columns:
            raise ValueError(f"selection step {step}: no metric {spec.metric!r} in the metrics table")
        rows = metrics[(metrics["intervention"] == spec.intervention) & metrics["run_id"].isin(survivors)]
        values = rows.set_index("run_id")[spec.metric].dropna()
        before = len(survivors)
        if len(values):
            if spec.keep == "top_fraction":
                count = max(1, math.ceil(spec.value * len(values)))
                kept = values[values >= values.sort_values(ascending=False).iloc[count - 1]]
            elif spec.keep == "at_least_quantile":
                kept = values[values >= values.quantile(spec.value)]
            elif spec.keep == "at_least":
                kept = values[values >= spec.value]
            else:
                kept = values[values <= spec.value]
            survivors = pd.Index([run for run in survivors if run in kept.index])
        else:
            survivors = pd.Index([])
        steps.append({"step": step, "specification": spec.describe(), "n_before": before, "n_after": len(survivors)})
    return survivors, steps
