"""Multiplicity measures over a population of trained runs.

Conventions
-----------
A population of ``R`` runs is evaluated on one intervention of ``N`` examples.

* ``preds``: int array ``(R, N)`` of predicted labels,
* ``correct``: bool array ``(R, N)``,
* accuracies are fractions in ``[0, 1]``.

Edge cases (all documented per function):

* a single run: spreads (range, std, iqr) and pairwise measures are ``NaN`` (one value has no spread);
* all runs identical: every spread / disagreement measure is exactly ``0.0``;
* ties in validation accuracy at the Rashomon boundary are included.

All functions are pure numpy/pandas and raise ``ValueError`` on malformed input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "rashomon_set",
    "accuracy_spread",
    "disagreement_matrix",
    "mean_pairwise_disagreement",
    "ambiguity",
    "discrepancy",
    "flip_counts",
    "flip_rate_distribution",
    "class_aggregated_calibration_error",
]

#: absolute tolerance of the Rashomon boundary. Accuracies are fractions k/n of a validation split; computed in
#: float32 they are off by up to ~1e-7, which must not decide a tie, while any split under a million images
#: has steps of at least 1e-6 between accuracies, so no run one image below the boundary gets in.
BOUNDARY_TOL = 5e-7

# up to this many distinct predicted classes, disagreement uses one matmul per class
_MAX_CLASSES_FOR_MATMUL = 64
# class codes up to this bound are used as they are (see `_codes`)
_MAX_DENSE_CODE = 2**16
# runs compared at once against a reference: bounds the (runs, N) temporaries of corruption_mean's 950,000 images
_RUN_CHUNK = 64


# --------------------------------------------------------------------------- validation helpers
def _accuracies(accuracies) -> np.ndarray:
    acc = np.asarray(accuracies, dtype=np.float64)
    if acc.ndim != 1:
        raise ValueError(f"accuracies must be 1-D (one value per run), got shape {acc.shape}")
    if acc.size == 0:
        raise ValueError("accuracies is empty")
    if not np.all(np.isfinite(acc)):
        raise ValueError("accuracies contain NaN/inf; drop diverged runs first (e.g. via rashomon_set)")
    return acc


def _preds(preds) -> np.ndarray:
    p = np.asarray(preds)
    if p.ndim != 2:
        raise ValueError(f"preds must be 2-D (runs, examples), got shape {p.shape}")
    if p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"preds is empty, shape {p.shape}")
    if not np.issubdtype(p.dtype, np.integer):
        raise ValueError(f"preds must have an integer dtype, got {p.dtype}")
    return p


def _codes(preds: np.ndarray) -> tuple[np.ndarray, int]:
    """Class codes 0..K-1 and K. Predicted classes are small non-negative ints (an argmax), which are their own
    codes: a class no run predicts only adds zero counts, and every measure here depends only on which runs agree.
    Other labels get compact codes of the values that occur (np.unique sorts all R x N labels: slow and ~36 bytes
    a label, so only where needed)."""
    low, high = int(preds.min()), int(preds.max())
    if 0 <= low and high < _MAX_DENSE_CODE:
        return preds, high + 1
    uniq, inv = np.unique(preds, return_inverse=True)
    return inv.reshape(preds.shape), int(uniq.size)


def _vote_counts(codes: np.ndarray, n_cls: int) -> np.ndarray:
    """``(N, K)`` int64: how many runs predict each class of each example, one run at a time (O(R N) time and
    no R x N temporary; within one run each example occurs once, so a plain fancy-index add is exact)."""
    n = codes.shape[1]
    counts = np.zeros(n * n_cls, dtype=np.int64)
    offsets = np.arange(n, dtype=np.int64) * n_cls
    for row in codes:
        counts[offsets + row] += 1
    return counts.reshape(n, n_cls)


def _reference(preds: np.ndarray, reference) -> np.ndarray:
    if np.isscalar(reference) and isinstance(reference, (int, np.integer)):
        r = int(reference)
        if not -preds.shape[0] <= r < preds.shape[0]:
            raise ValueError(f"reference run index {r} out of range for {preds.shape[0]} runs")
        return preds[r]
    ref = np.asarray(reference)
    if ref.shape != (preds.shape[1],):
        raise ValueError(f"reference must have shape ({preds.shape[1]},), got {ref.shape}")
    return ref


# --------------------------------------------------------------------------- accuracy-level measures
def rashomon_set(val_accuracy: pd.Series, epsilon: float) -> pd.Index:
    """Runs whose validation accuracy is ``>= best - epsilon`` (index = run_id, original order kept).

    NaN accuracies (diverged / missing runs) are excluded. Ties at the boundary are included, with an
    absolute tolerance of ``BOUNDARY_TOL`` against float error. Empty or all-NaN input -> empty Index.
    """
    if not isinstance(val_accuracy, pd.Series):
        raise ValueError("val_accuracy must be a pandas Series indexed by run_id")
    eps = float(epsilon)
    if not np.isfinite(eps) or eps < 0:
        raise ValueError(f"epsilon must be a finite non-negative number, got {epsilon!r}")
    acc = pd.to_numeric(val_accuracy, errors="raise").astype(np.float64)
    finite = acc[np.isfinite(acc.to_numpy())]
    if finite.empty:
        return val_accuracy.index[:0]
    best = finite.max()
    mask = np.isfinite(acc.to_numpy()) & (acc.to_numpy() >= best - eps - BOUNDARY_TOL)
    return val_accuracy.index[mask]


def accuracy_spread(accuracies: np.ndarray) -> dict[str, float]:
    """Summary of per-run accuracies.

    Keys: ``n_runs`` (int), ``mean``, ``min``, ``max``, ``range`` (max - min), ``std`` (sample std,
    ddof=1), ``iqr`` (75th - 25th percentile, numpy linear interpolation). A single run has no spread: range, std
    and iqr are NaN, so that a missing spread never reads as "no multiplicity". NaN values raise (filter diverged
    runs first).
    """
    acc = _accuracies(accuracies)
    spread = {statistic: float(_spread_stat(acc[None, :], statistic)[0]) for statistic in ("range", "std", "iqr")}
    return {
        "n_runs": int(acc.size),
        "mean": float(acc.mean()),
        "min": float(acc.min()),
        "max": float(acc.max()),
        **spread,
    }


def _spread_stat(acc: np.ndarray, statistic: str) -> np.ndarray:
    """Row-wise statistic of a (B, R) accuracy matrix (rows shifted by their minimum so that
    identical runs give exactly 0)."""
    if acc.shape[1] < 2:
        return np.full(acc.shape[0], np.nan)
    acc = acc - acc.min(axis=1, keepdims=True)
    if statistic == "range":
        return acc.max(axis=1) - acc.min(axis=1)
    if statistic == "std":
        return acc.std(axis=1, ddof=1)
    q25, q75 = np.percentile(acc, [25, 75], axis=1)
    return q75 - q25


# --------------------------------------------------------------------------- prediction-level measures
def disagreement_matrix(preds: np.ndarray) -> np.ndarray:
    """``(R, R)`` float matrix: fraction of examples on which runs i and j predict differently.

    Symmetric with zero diagonal. Uses one-hot products per class when few classes occur,
    otherwise chunked broadcast comparisons (never a Python double loop over run pairs).
    """
    p = _preds(preds)
    r, n = p.shape
    codes, n_cls = _codes(p)
    if n_cls <= _MAX_CLASSES_FOR_MATMUL and n < 2**24:
        agree = np.zeros((r, r), dtype=np.float32)
        for k in range(n_cls):
            onehot = (codes == k).astype(np.float32)
            agree += onehot @ onehot.T  # integer-valued, exact in float32 below 2**24
        dis = (n - agree.astype(np.float64)) / n
    else:
        dis = np.empty((r, r))
        step = max(1, 2**25 // (r * n))
        for i in range(0, r, step):
            dis[i : i + step] = (codes[i : i + step, None, :] != codes[None, :, :]).mean(axis=2)
    dis = np.clip(dis, 0.0, 1.0)
    np.fill_diagonal(dis, 0.0)
    return dis


def mean_pairwise_disagreement(preds: np.ndarray) -> float:
    """Mean disagreement (churn) over unordered run pairs ``i < j``; NaN for fewer than 2 runs.

    Equal to the mean of :func:`disagreement_matrix` above its diagonal, in O(R N) instead of O(R^2 N): on an
    example where ``n_c`` runs predict class c, ``sum_c n_c (n_c - 1)`` of the ``R (R - 1)`` ordered pairs agree.
    """
    p = _preds(preds)
    r, n = p.shape
    if r < 2:
        return float("nan")
    codes, n_cls = _codes(p)
    if n * n_cls > 2**26:  # many classes: sorted columns give the same counts
        return float(disagreement_matrix(p)[np.triu_indices(r, k=1)].mean())
    counts = _vote_counts(codes, n_cls)
    agreeing = int((counts * (counts - 1)).sum())  # ordered agreeing pairs over all examples, exact
    return float(min(max(1.0 - agreeing / (r * (r - 1) * n), 0.0), 1.0))


def ambiguity(preds: np.ndarray, reference) -> float:
    """Fraction of examples where at least one run's prediction differs from the reference's
    (Marx et al. 2020). ``reference``: the reference run's predictions ``(N,)`` or a run index
    into ``preds``. A single run equal to the reference -> 0.0."""
    p = _preds(preds)
    ref = _reference(p, reference)
    differs = np.zeros(p.shape[1], dtype=bool)
    for start in range(0, p.shape[0], _RUN_CHUNK):
        differs |= np.any(p[start : start + _RUN_CHUNK] != ref[None, :], axis=0)
    return float(differs.mean())


def discrepancy(preds: np.ndarray, reference) -> float:
    """Max over runs of the fraction of examples where that run differs from the reference
    (Marx et al. 2020). Always ``<= ambiguity(preds, reference)``. Same ``reference`` forms.
    """
    p = _preds(preds)
    ref = _reference(p, reference)
    rates = [(p[start : start + _RUN_CHUNK] != ref[None, :]).mean(axis=1) for start in range(0, p.shape[0], _RUN_CHUNK)]
    return float(np.concatenate(rates).max())


def flip_counts(preds: np.ndarray) -> np.ndarray:
    """Per example, the number of runs whose prediction differs from the majority (mode) prediction:
    ``R - (size of the largest agreeing group)``. 0 = all agree; ties between modes give the same
    count whichever mode is chosen. Returns int64 ``(N,)`` with values in ``[0, R-1]``.
    """
    p = _preds(preds)
    r, n = p.shape
    codes, n_cls = _codes(p)
    if n * n_cls <= 2**26:
        top = _vote_counts(codes, n_cls).max(axis=1)
    else:  # many classes: longest run of equal values in each sorted column
        s = np.sort(codes, axis=0)
        top = np.ones(n, dtype=np.int64)
        cur = np.ones(n, dtype=np.int64)
        for i in range(1, r):
            cur = np.where(s[i] == s[i - 1], cur + 1, 1)
            np.maximum(top, cur, out=top)
    return (r - top).astype(np.int64)


def flip_rate_distribution(preds: np.ndarray) -> pd.Series:
    """Distribution of :func:`flip_counts`: index ``0..R-1`` (runs disagreeing with the majority),
    value = fraction of examples (sums to 1). Index name ``n_flipped``, series name ``fraction``.
    """
    p = _preds(preds)
    r, n = p.shape
    frac = np.bincount(flip_counts(p), minlength=r)[:r] / n
    return pd.Series(frac, index=pd.RangeIndex(r, name="n_flipped"), name="fraction")


def class_aggregated_calibration_error(preds: np.ndarray, labels: np.ndarray) -> float:
    """CACE of the runs' vote ensemble (Jiang et al. 2022, "Assessing generalization of SGD via disagreement").

    The ensemble gives class k of example i the share ``q_ik`` of runs that predict it. It is class-aggregated
    calibrated when, over all (example, class) pairs with share q, a fraction q of them are the true label, for
    every q; CACE sums the miscalibration ``|#{true labels among the pairs with share q} - q #{pairs}| / N`` over
    the R + 1 values q = j / R can take (exact, no binning). The generalisation disagreement equality's gap is
    bounded by it: ``|E[disagreement] - E[test error]| <= CACE`` (their Theorem 4.1), so GDE holds to the degree
    the ensemble is calibrated.
    """
    p = _preds(preds)
    y = np.asarray(labels)
    if y.shape != (p.shape[1],):
        raise ValueError(f"labels must have shape ({p.shape[1]},), got {y.shape}")
    codes, n_cls = _codes(np.vstack([p, y[None]]))
    votes = _vote_counts(codes[:-1], n_cls)  # (N, K) runs voting for each class
    r, n = p.shape
    true_votes = votes[np.arange(n), codes[-1]]  # the share the true label gets, as a vote count
    pairs = np.bincount(votes.ravel(), minlength=r + 1)  # (example, class) pairs per vote count j
    hits = np.bincount(true_votes, minlength=r + 1)  # of which the true label
    return float(np.abs(hits - np.arange(r + 1) / r * pairs).sum() / n)
