"""Model selection with extra specifications, applied in order to a Rashomon set.

The paper's question: does multiplicity survive when, among equally accurate models, we also demand e.g.
robustness or fairness? Each specification filters the current set of runs on one metric of one
intervention; the steps and their survivors are recorded so a sheet of the survivors can sit next to the
unfiltered one.

Specifications read the *selection split* (validation), never the test split: the sheets report the test
split, and selecting on the same images that then measure the survivors biases their accuracy upwards and
shrinks their spread by construction, which is exactly the effect a sheet of the survivors is meant to measure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from multisheets.interventions.registry import FAMILIES, family_of

RULES = ("top_fraction", "at_least", "at_most", "at_least_quantile")
SELECTION_SPLIT = "val"
# Numeric columns of the metrics table a specification may filter on (tests/test_evaluate.py checks them
# against the columns evaluation writes).
METRICS = (
    "accuracy",
    "loss",
    "mean_confidence",
    "ece",
    "worst_class_accuracy",
    "best_class_accuracy",
    "classifier_accuracy",
    "class_gap",
)


@dataclass(frozen=True)
class Specification:
    intervention: str
    keep: str
    value: float
    metric: str = "accuracy"
    split: str = SELECTION_SPLIT

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


def check_specifications(specifications: list[Specification], families: list[str]) -> None:
    """Refuse, before any job runs, a specification that reads the test split, names an intervention no
    evaluated family produces, or one that has no selection split (shift sets)."""
    for index, spec in enumerate(specifications):
        where = f"selection[{index}] ({spec.describe()})"
        if spec.split != SELECTION_SPLIT:
            raise ValueError(
                f"{where} reads the {spec.split!r} split: selection may only read the validation split "
                f"(split: {SELECTION_SPLIT}). The test split is for reporting only; selecting on the images that "
                "then measure the survivors biases their accuracy up and their spread down."
            )
        if spec.metric not in METRICS:
            raise ValueError(f"{where}: metric {spec.metric!r} is not one of {', '.join(METRICS)}")
        family = family_of(spec.intervention)
        if family is None:
            raise ValueError(f"{where}: no intervention family produces {spec.intervention!r}")
        if not FAMILIES[family].selection_split:
            raise ValueError(f"{where}: {family} sets are for reporting only and have no selection split")
        if family not in families:
            raise ValueError(f"{where} needs the {family!r} family: add it to interventions.families")


def selection_families(specifications: list[Specification]) -> list[str]:
    """Families that must also be evaluated on the selection split: clean (Rashomon sets) and those specified."""
    return list(dict.fromkeys(["clean"] + [family_of(spec.intervention) for spec in specifications]))


def apply_selection(
    metrics: pd.DataFrame, members: pd.Index, specifications: list[Specification]
) -> tuple[pd.Index, list[dict[str, Any]]]:
    """Filter `members` by each specification in turn; return the survivors and one record per step.

    Ties at a threshold are kept, so a step never breaks a tie arbitrarily. A specification naming an
    intervention or metric that the metrics table lacks is an error that names it.
    """
    survivors, steps = pd.Index(members), []
    for step, spec in enumerate(specifications, start=1):
        split = metrics[metrics["split"] == spec.split]
        interventions = set(split["intervention"])
        if spec.intervention not in interventions:
            raise ValueError(
                f"selection step {step}: no intervention {spec.intervention!r} on the {spec.split} split "
                f"in the metrics (available: {sorted(interventions)})"
            )
        if spec.metric not in metrics.columns:
            raise ValueError(f"selection step {step}: no metric {spec.metric!r} in the metrics table")
        rows = split[(split["intervention"] == spec.intervention) & split["run_id"].isin(survivors)]
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
        steps.append(
            {
                "step": step,
                "specification": spec.describe(),
                "split": spec.split,
                "n_before": before,
                "n_after": len(survivors),
            }
        )
    return survivors, steps
