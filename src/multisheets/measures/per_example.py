"""Per-example multiplicity: on which examples the runs of a set disagree, and how much.

Conventions
-----------
A set of ``R`` runs evaluated on ``N`` examples of ``C`` classes.

* ``logits``: float ``(R, N, C)``, as stored (float16); ``probs``: their softmax, each row sums to 1;
* ``preds``: int ``(R, N)``, each run's predicted class; ``labels``: int ``(N,)``;
* ``counts``: int ``(N, C)``, how many runs predict each class (:func:`probabilities.vote_counts`).

Measures, one value per example:

* **Rashomon capacity** (Hsu & Calmon, NeurIPS 2022): ``2**c``, where ``c`` is the capacity in bits of the
  channel whose inputs are the set's runs and whose output distribution for run ``r`` is its class-probability
  vector. 1 when all runs give the same probabilities; at most ``min(R, C)``, reached when the runs put all
  their probability on that many different classes.
* **Viable prediction range** (Watson-Daniels et al., AAAI 2023): max - min over the runs of the probability
  given to one class (the true class, or the set's plurality class).
* **Self-consistency** (Cooper et al., AAAI 2024): the probability that two different runs drawn from the set
  predict the same class; its mean over examples is one minus the set's mean pairwise disagreement.
"""

from __future__ import annotations

import numpy as np

from multisheets.measures.capacity import channel_capacity

# Capacity is solved on chunks of examples of at most this many (example, run, class) cells (float64: 32 MiB).
CHUNK_CELLS = 2**22


def rashomon_capacity(
    probs: np.ndarray, tolerance: float = 1e-4, max_iterations: int = 1000, negent: np.ndarray | None = None
):
    """Per example, ``2**capacity`` of the channel from the runs to their probability vectors, in [1, min(R, C)].

    `probs`: ``(R, N, C)``. Returns ``(values, gap)``: the values and each one's certified error in bits of the
    capacity (see :func:`~multisheets.measures.capacity.channel_capacity`; a gap of g bits bounds the relative
    error of the value by g * ln 2). `negent`: ``(R, N)``, sum p log p of each run and example where the caller
    has it from the log-probabilities (`probabilities.softmax_neg_entropy`), which saves a log per cell.
    """
    probs = np.asarray(probs)
    runs, n, classes = probs.shape
    values, gaps = np.empty(n), np.empty(n)
    chunk = max(1, CHUNK_CELLS // (runs * classes))
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        channel = np.ascontiguousarray(probs[:, part].transpose(1, 0, 2), dtype=np.float64)
        rows = None if negent is None else np.ascontiguousarray(negent[:, part].T)
        bits, gap = channel_capacity(channel, tolerance, max_iterations, rows)
        values[part], gaps[part] = 2.0**bits, gap
    return values, gaps


def viable_prediction_range(probs: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Per example, max - min over the runs of the probability given to `classes` (one class per example)."""
    probs = np.asarray(probs)
    chosen = np.take_along_axis(probs, np.asarray(classes)[None, :, None], axis=2)[..., 0]  # (R, N)
    return (chosen.max(axis=0) - chosen.min(axis=0)).astype(np.float64)


def plurality_class(counts: np.ndarray, mean_probs: np.ndarray) -> np.ndarray:
    """Per example, the class most runs predict; a tie goes to the tied class with the higher mean probability.

    Adding half the mean probability (< 1/2) to the integer counts breaks ties only: a class with one vote more
    always wins.
    """
    return np.argmax(counts + 0.5 * np.asarray(mean_probs), axis=1)


def agreement(counts: np.ndarray) -> np.ndarray:
    """Per example, the share of the runs that predict the plurality class (1 = unanimous)."""
    return counts.max(axis=1) / counts.sum(axis=1)


def self_consistency(counts: np.ndarray) -> np.ndarray:
    """Per example, the probability that two different runs of the set predict the same class:
    sum_c n_c (n_c - 1) / (R (R - 1)), Cooper et al.'s estimator generalised to C classes. NaN for one run."""
    runs = counts.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (counts * (counts - 1.0)).sum(axis=1) / (runs * (runs - 1.0))
