"""Ensembles, a remedy for arbitrary predictions measured on the runs a study already has: disjoint k-run ensembles
(logits averaged), their accuracy, churn and the per-example measures between two of them.

It works on one intervention's logits of a set of ``R`` runs, ``(R, N, C)``, and returns *tallies*: sums over
examples (dicts of numpy arrays) that add up over the instances of a summary intervention (``corruption=fog``
over its severities) before they are turned into rates by the ``*_rows`` functions. Summaries therefore weigh
every example once, as the sheet's disagreement does.
"""

from __future__ import annotations

import numpy as np

from multisheets.measures.per_example import rashomon_capacity
from multisheets.measures.probabilities import softmax_neg_entropy, vote_counts


def ensemble_groups(n_runs: int, size: int, seed: int) -> list[np.ndarray]:
    """Disjoint groups of `size` run positions out of `n_runs`, drawn with a generator seeded by (seed, size).

    Disjoint groups share no run, so their ensembles are independent draws (given the training recipe); the
    ``n_runs % size`` runs left over are not used. No group when size > n_runs.
    """
    order = np.random.default_rng([seed, size]).permutation(n_runs)
    return [order[start : start + size] for start in range(0, n_runs - size + 1, size)]


def ensemble_tally(
    logits: np.ndarray,
    labels: np.ndarray,
    size: int,
    seed: int,
    capacity: dict,
    probs: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """Sums over examples for the disjoint ensembles of `size` runs (logits averaged within each ensemble).

    ``correct``: right answers per ensemble; ``disagreeing_pairs``: over all pairs of ensembles and examples,
    how often the two predict different classes; between disjoint *pairs* of ensembles (0-1, 2-3, ...),
    ``capacity_sum`` (Rashomon capacity of the two) and ``range_sum`` (viable range of the true class's
    probability) over ``pair_examples`` (pairs x examples). `capacity`: keyword arguments of `rashomon_capacity`.
    `probs`: `probabilities.softmax_neg_entropy` of `logits` where the caller has it; an ensemble of one run is
    that run, so k = 1 reuses it (and its entropies) instead of a second softmax of all R x N x C logits.
    """
    groups = ensemble_groups(len(logits), size, seed)
    n, classes = logits.shape[1], logits.shape[2]
    tally = {
        "correct": np.zeros(len(groups)),
        "disagreeing_pairs": np.zeros(1),
        "capacity_sum": np.zeros(1),
        "range_sum": np.zeros(1),
        "pair_examples": np.zeros(1),
    }
    if not groups:
        return tally
    averaged = np.stack([logits[group].astype(np.float32).mean(axis=0) for group in groups])  # (m, N, C)
    preds = averaged.argmax(axis=2)
    tally["correct"] = (preds == labels[None, :]).sum(axis=1).astype(np.float64)
    m = len(groups)
    if m < 2:
        return tally
    counts = vote_counts(preds, classes)
    tally["disagreeing_pairs"][0] = (n * m * (m - 1) - (counts * (counts - 1)).sum()) / 2
    if size == 1 and probs is not None:
        order = np.concatenate(groups)
        probs, negent = probs[0][order], probs[1][order]
    else:
        probs, negent = softmax_neg_entropy(averaged)
    pairs = m // 2
    # pair j is ensembles 2j and 2j + 1; each ensemble's entropies come from its log-probabilities, once
    first, second = probs[0 : 2 * pairs : 2], probs[1 : 2 * pairs : 2]  # (pairs, N, C) each
    channel = np.stack([first.reshape(pairs * n, classes), second.reshape(pairs * n, classes)])
    entropies = np.stack([negent[0 : 2 * pairs : 2].ravel(), negent[1 : 2 * pairs : 2].ravel()])
    values, _ = rashomon_capacity(channel, **capacity, negent=entropies)
    true = np.tile(labels, pairs)
    picked = np.take_along_axis(channel, np.broadcast_to(true[None, :, None], (2, pairs * n, 1)), axis=2)[..., 0]
    tally["capacity_sum"][0] = values.sum()
    tally["range_sum"][0] = np.abs(picked[0] - picked[1]).sum()
    tally["pair_examples"][0] = pairs * n
    return tally


def ensemble_rows(tally: dict, n_examples: float) -> list[dict]:
    """Rates from an ensemble tally: accuracy (mean and std over ensembles), churn between ensembles, and the
    per-example measures between two ensembles; NaN where fewer than two ensembles fit."""
    correct, m = tally["correct"], len(tally["correct"])
    accuracy = correct / n_examples if m else np.array([np.nan])
    pair_examples = tally["pair_examples"][0]
    values = {
        "accuracy": float(accuracy.mean()),
        "accuracy_std": float(accuracy.std(ddof=1)) if m >= 2 else np.nan,
        "churn": float(tally["disagreeing_pairs"][0] / (m * (m - 1) / 2 * n_examples)) if m >= 2 else np.nan,
        "rashomon_capacity": float(tally["capacity_sum"][0] / pair_examples) if pair_examples else np.nan,
        "viable_range_true": float(tally["range_sum"][0] / pair_examples) if pair_examples else np.nan,
    }
    return [{"n_ensembles": m, "measure": measure, "value": value} for measure, value in values.items()]
