"""Abstention, a remedy for arbitrary predictions: a set of runs predicts an example only where at least a share
tau of its runs agree on the plurality class; coverage, selective accuracy and the disagreement left. Tallies add
up over a summary's instances, as `ensembles` explains.
"""

from __future__ import annotations

import numpy as np

from multisheets.measures.per_example import (
    agreement,
    plurality_class,
    self_consistency,
)

# Shares of the set that must agree before an example is covered are compared with this slack (float error).
AGREEMENT_TOL = 1e-12


def abstention_tally(counts: np.ndarray, mean_probs: np.ndarray, labels: np.ndarray, thresholds) -> dict:
    """Sums over examples for abstaining wherever less than a share tau of the set agrees, per tau.

    An example is *covered* when the share of runs predicting its plurality class is >= tau. ``covered``,
    ``correct`` (the plurality vote is right) and ``disagreement`` (summed probability that two different runs
    disagree, i.e. 1 - self-consistency) over the covered examples, one entry per threshold.
    """
    shares = agreement(counts)
    right = plurality_class(counts, mean_probs) == labels
    unsure = 1.0 - self_consistency(counts)
    covered = shares[None, :] >= np.asarray(thresholds, dtype=np.float64)[:, None] - AGREEMENT_TOL  # (T, N)
    return {
        "covered": covered.sum(axis=1).astype(np.float64),
        "correct": (covered & right).sum(axis=1).astype(np.float64),
        "disagreement": np.where(covered, unsure[None, :], 0.0).sum(axis=1),
    }


def abstention_rows(tally: dict, n_examples: float, thresholds) -> list[dict]:
    """Per threshold: coverage, selective accuracy of the plurality vote and residual disagreement (covered
    examples only; NaN where nothing is covered, and the disagreement NaN for a single run)."""
    rows = []
    for index, threshold in enumerate(thresholds):
        covered = tally["covered"][index]
        with np.errstate(invalid="ignore", divide="ignore"):
            values = {
                "coverage": covered / n_examples,
                "selective_accuracy": tally["correct"][index] / covered,
                "residual_disagreement": tally["disagreement"][index] / covered,
            }
        rows += [
            {"threshold": float(threshold), "measure": measure, "value": float(value)}
            for measure, value in values.items()
        ]
    return rows
