"""The sheet's measures by name: how a set of runs differs under one intervention, one sheet row per measure.

Each measure is computed from a `RunSet` (one intervention's numbers for the runs of a set) and gives a value or a
value with an interval. Its entry also says how figures label it, whether it needs the runs' stored predictions
(interventions that have none, such as ECE, get no row for it), and whether it gets a wide table and a heatmap
panel. The sheet's rows come in this order. A new measure is one entry here (its reading goes into the README's
"How to read a sheet").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from multisheets.measures import population, uncertainty

Value = tuple[float, float, float]  # value, interval low, interval high (NaN: no interval)


@dataclass
class RunSet:
    """One intervention's numbers for a set of runs: what every sheet measure is computed from."""

    accuracy: np.ndarray  # (R,) each run's measured accuracy (test split)
    scores: tuple | None  # per-image scores of the test-noise model; None where the metric is no per-image proportion
    predictions: np.ndarray | None  # (R, N) predicted classes; None where no predictions are stored
    reference: np.ndarray | None  # the reference run's predictions (the set's best on validation)
    settings: dict[str, Any] = field(repr=False)  # the sheet settings (`confidence`, `expected_range_k`)

    @cached_property
    def spread(self) -> dict[str, float]:
        return population.accuracy_spread(self.accuracy)

    @cached_property
    def test_noise(self) -> float:
        """tau^2, the variance test sampling adds to one run's accuracy relative to another's (NaN: unknown)."""
        return uncertainty.sampling_noise_variance(*self.scores) if self.scores is not None else np.nan

    @cached_property
    def components(self) -> uncertainty.VarianceComponents:
        return uncertainty.variance_components(self.accuracy, self.test_noise, self.settings["confidence"])


@dataclass(frozen=True)
class SheetMeasure:
    compute: Callable[[RunSet], float | Value]
    label: str  # in figures, with its unit
    needs_predictions: bool = False
    wide: bool = False  # also sheets/sheet_<measure>.csv and a panel of sheet_heatmap.png
    spread: bool = True  # a difference between runs: blank (NaN) for fewer than MIN_RUNS runs, never 0


#: a set of fewer runs has no spread; its spread measures are NaN and the row's `note` says why
MIN_RUNS = 2
TOO_FEW_RUNS = f"fewer than {MIN_RUNS} runs: no spread"


SHEET_MEASURES: dict[str, SheetMeasure] = {
    # Descriptive spread of the measured accuracies: no interval.
    "mean": SheetMeasure(lambda runs: runs.spread["mean"], "mean accuracy (%)", spread=False),
    "range": SheetMeasure(lambda runs: runs.spread["range"], "accuracy range, max − min (pp)", wide=True),
    "std": SheetMeasure(lambda runs: runs.spread["std"], "accuracy std over runs (pp)", wide=True),
    "iqr": SheetMeasure(lambda runs: runs.spread["iqr"], "accuracy IQR (pp)"),
    # Test noise and the spread of the runs' true accuracies (variance components, `uncertainty`).
    "test_noise_sd": SheetMeasure(lambda runs: float(np.sqrt(runs.test_noise)), "test noise, one run vs another (pp)"),
    "range_null": SheetMeasure(lambda runs: runs.components.range_null, "range from test noise alone (pp)"),
    "p_between_run": SheetMeasure(lambda runs: runs.components.p_value, "p-value of no between-run spread"),
    "between_run_std": SheetMeasure(
        lambda runs: (
            runs.components.between_run_std,
            runs.components.between_run_std_low,
            runs.components.between_run_std_high,
        ),
        "between-run std of true accuracy (pp)",
    ),
    "expected_range": SheetMeasure(
        lambda runs: runs.components.expected_range(runs.settings["expected_range_k"]), "expected range of k runs (pp)"
    ),
    # Predictive multiplicity: from the runs' predictions.
    "disagreement": SheetMeasure(
        lambda runs: population.mean_pairwise_disagreement(runs.predictions),
        "mean pairwise disagreement (%)",
        needs_predictions=True,
        wide=True,
    ),
    "ambiguity": SheetMeasure(
        lambda runs: population.ambiguity(runs.predictions, runs.reference), "ambiguity (%)", needs_predictions=True
    ),
    "discrepancy": SheetMeasure(
        lambda runs: population.discrepancy(runs.predictions, runs.reference),
        "discrepancy (%)",
        needs_predictions=True,
    ),
}


def measure_values(runs: RunSet) -> dict[str, Value]:
    """Every measure of a set of runs that it has the numbers for, in the sheet's order (spreads of fewer than
    `MIN_RUNS` runs: NaN)."""
    values, too_few = {}, len(runs.accuracy) < MIN_RUNS
    for name, measure in SHEET_MEASURES.items():
        if measure.needs_predictions and runs.predictions is None:
            continue
        value = (np.nan, np.nan, np.nan) if too_few and measure.spread else measure.compute(runs)
        values[name] = value if isinstance(value, tuple) else (value, np.nan, np.nan)
    return values


def wide_measures() -> list[str]:
    """The measures with a wide table and a heatmap panel."""
    return [name for name, measure in SHEET_MEASURES.items() if measure.wide]
