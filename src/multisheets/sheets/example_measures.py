"""The per-example measures by name: how the runs of a set differ on each single example of one intervention.

Each measure gives one value per example (NaN where it is undefined), computed from an `ExampleSet` (the set's
stored logits of one intervention). The tables hold each measure's mean over the examples and, for a distributed
measure, its distribution over `support` (101 points). A new measure is one entry here (its reading goes into the
README's "How to read a sheet").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from multisheets.measures import per_example
from multisheets.measures.probabilities import softmax_neg_entropy, vote_counts

ECDF_POINTS = 101


@dataclass
class ExampleSet:
    """One intervention's logits for the runs of a set: what every per-example measure is computed from."""

    logits: np.ndarray  # (R, N, C) float16, as stored
    labels: np.ndarray  # (N,)
    options: dict[str, Any] = field(repr=False)  # the per-example settings (`per_example.options_from`)

    @cached_property
    def probs64(self) -> tuple[np.ndarray, np.ndarray]:
        """(float64 probabilities, sum p log p per run and example): the capacity's channel and its entropies,
        shared with the ensembles of one run."""
        return softmax_neg_entropy(self.logits)

    @cached_property
    def probs(self) -> np.ndarray:
        return self.probs64[0].astype(np.float32)  # == probabilities.softmax(self.logits)

    @cached_property
    def counts(self) -> np.ndarray:
        """(N, C) votes: how many runs predict each class; predictions are the stored logits' argmax, as the sheet's."""
        return vote_counts(self.logits.astype(np.float32).argmax(axis=2), self.probs.shape[2])

    @cached_property
    def mean_probs(self) -> np.ndarray:
        return self.probs.mean(axis=0)

    @cached_property
    def self_consistency(self) -> np.ndarray:
        return per_example.self_consistency(self.counts)

    @cached_property
    def capacity(self) -> tuple[np.ndarray, np.ndarray]:
        """Rashomon capacity per example and the certified gap where its iteration stopped."""
        probs, negent = self.probs64
        return per_example.rashomon_capacity(probs, **self.options["capacity"], negent=negent)


def unit_interval(n_classes: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, ECDF_POINTS)


def capacity_support(n_classes: int) -> np.ndarray:
    """[1, C], crowded towards 1 (1 + (C - 1) u^2 for evenly spaced u), where nearly every example lies."""
    return 1.0 + (n_classes - 1.0) * np.linspace(0.0, 1.0, ECDF_POINTS) ** 2


@dataclass(frozen=True)
class ExampleMeasure:
    compute: Callable[[ExampleSet], np.ndarray]  # one value per example
    label: str  # in figures
    distributed: bool = True  # its distribution is tabulated (per_example_ecdf) and drawn
    support: Callable[[int], np.ndarray] = unit_interval  # n_classes -> where the distribution is tabulated


PER_EXAMPLE_MEASURES: dict[str, ExampleMeasure] = {
    "rashomon_capacity": ExampleMeasure(
        lambda examples: examples.capacity[0], "Rashomon capacity 2^C (1 = all runs agree)", support=capacity_support
    ),
    "viable_range_true": ExampleMeasure(
        lambda examples: per_example.viable_prediction_range(examples.probs, examples.labels),
        "viable range, true class (max − min prob.)",
    ),
    "viable_range_predicted": ExampleMeasure(
        lambda examples: per_example.viable_prediction_range(
            examples.probs, per_example.plurality_class(examples.counts, examples.mean_probs)
        ),
        "viable range, plurality class",
    ),
    "self_consistency": ExampleMeasure(
        lambda examples: examples.self_consistency, "self-consistency (P two runs agree)"
    ),
    # 0/1 per example: the table's value is the share of arbitrary predictions.
    "arbitrary": ExampleMeasure(
        lambda examples: np.where(
            np.isnan(examples.self_consistency),
            np.nan,
            examples.self_consistency <= examples.options["arbitrary_self_consistency"],
        ),
        "arbitrary (two runs agree with probability ≤ the threshold)",
        distributed=False,
    ),
}
