"""Multiplicity measures over a population of trained runs.

Conventions
-----------
A population of ``R`` runs is evaluated on one intervention of ``N`` examples.

* ``preds``: int array ``(R, N)`` of predicted labels,
* ``correct``: bool array ``(R, N)``,
* accuracies are fractions in ``[0, 1]``.

Edge cases (all documented per function):

* a single run: spreads (range, std, iqr) are ``0.0``; pairwise measures are ``NaN``;
* all runs identical: every spread / disagreement measure is exactly ``0.0``;
* ties in validation accuracy at the Rashomon boundary are included.

All functions are pure numpy/pandas and raise ``ValueError`` on malformed input.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = [
    "rashomon_set",
    "accuracy_spread",
    "noise_floor",
    "expected_range",
    "bootstrap_spread_ci",
    "bootstrap_spread_cis",
    "disagreement_matrix",
    "mean_pairwise_disagreement",
    "ambiguity",
    "discrepancy",
    "flip_counts",
    "flip_rate_distribution",
]

#: absolute tolerance used for float comparisons at the Rashomon boundary
BOUNDARY_TOL = 1e-12

# up to this many distinct predicted classes, disagreement uses one matmul per class
_MAX_CLASSES_FOR_MATMUL = 64


# --------------------------------------------------------------------------- validation helpers
def _accuracies(accuracies) -> np.ndarray:
    acc = np.asarray(accuracies, dtype=np.float64)
    if acc.ndim != 1:
        raise ValueError(
            f"accuracies must be 1-D (one value per run), got shape {acc.shape}"
        )
    if acc.size == 0:
        raise ValueError("accuracies is empty")
    if not np.all(np.isfinite(acc)):
        raise ValueError(
            "accuracies contain NaN/inf; drop diverged runs first (e.g. via rashomon_set)"
        )
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
    """Compact class codes 0..K-1 of the labels that actually occur (handles any int labels)."""
    uniq, inv = np.unique(preds, return_inverse=True)
    return inv.reshape(preds.shape), int(uniq.size)


def _reference(preds: np.ndarray, reference) -> np.ndarray:
    if np.isscalar(reference) and isinstance(reference, (int, np.integer)):
        r = int(reference)
        if not -preds.shape[0] <= r < preds.shape[0]:
            raise ValueError(
                f"reference run index {r} out of range for {preds.shape[0]} runs"
            )
        return preds[r]
    ref = np.asarray(reference)
    if ref.shape != (preds.shape[1],):
        raise ValueError(
            f"reference must have shape ({preds.shape[1]},), got {ref.shape}"
        )
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
        raise ValueError(
            f"epsilon must be a finite non-negative number, got {epsilon!r}"
        )
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
    ddof=1; 0.0 for a single run), ``iqr`` (75th - 25th percentile, numpy linear interpolation).
    NaN values raise (filter diverged runs first).
    """
    acc = _accuracies(accuracies)
    spread = {statistic: float(_spread_stat(acc[None, :], statistic)[0]) for statistic in ("range", "std", "iqr")}
    return {"n_runs": int(acc.size), "mean": float(acc.mean()), "min": float(acc.min()), "max": float(acc.max()),
            **spread}


def noise_floor(p: float | np.ndarray, n: int) -> float | np.ndarray:
    """Binomial standard error ``sqrt(p (1 - p) / n)`` of one model's accuracy ``p`` on ``n`` examples."""
    if isinstance(n, bool) or int(n) != n or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    arr = np.asarray(p, dtype=np.float64)
    if np.any(~np.isfinite(arr)) or np.any((arr < 0) | (arr > 1)):
        raise ValueError("p must lie in [0, 1]")
    se = np.sqrt(arr * (1.0 - arr) / int(n))
    return float(se) if se.ndim == 0 else se


def expected_range(accuracies, k: int) -> float:
    """Expected ``max - min`` of ``k`` runs drawn without replacement from the population.

    Exact and deterministic: with ascending values ``x_(1) <= ... <= x_(R)``,
    ``E[max] = sum_i x_(i) C(i-1, k-1) / C(R, k)`` and ``E[min] = sum_i x_(i) C(R-i, k-1) / C(R, k)``.
    ``k == 1`` -> 0.0; ``k > R`` -> NaN.
    """
    acc = np.sort(_accuracies(accuracies))
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k, r = int(k), acc.size
    if k > r:
        return float("nan")
    if k == 1:
        return 0.0
    total = math.comb(r, k)
    # weight of the i-th smallest (0-based) being the max resp. the min of a random k-subset;
    # exact big-int true division gives correctly rounded floats for any R.
    w_max = np.array([math.comb(i, k - 1) / total for i in range(r)])
    w_min = w_max[::-1]
    # weights sum to 0, so shifting by the minimum is exact in theory and makes constant input give 0.0
    return float(np.dot(w_max - w_min, acc - acc[0]))


def _spread_stat(acc: np.ndarray, statistic: str) -> np.ndarray:
    """Row-wise statistic of a (B, R) accuracy matrix (rows shifted by their minimum so that
    identical runs give exactly 0)."""
    acc = acc - acc.min(axis=1, keepdims=True)
    if statistic == "range":
        return acc.max(axis=1) - acc.min(axis=1)
    if statistic == "std":
        if acc.shape[1] < 2:
            return np.zeros(acc.shape[0])
        return acc.std(axis=1, ddof=1)
    q25, q75 = np.percentile(acc, [25, 75], axis=1)
    return q75 - q25


def bootstrap_spread_ci(
    correct: np.ndarray,
    statistic: str = "range",
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Two-level percentile bootstrap CI for one spread statistic (see `bootstrap_spread_cis`)."""
    return bootstrap_spread_cis(correct, (statistic,), n_boot, seed, alpha)[statistic]


def bootstrap_spread_cis(
    correct: np.ndarray,
    statistics: tuple[str, ...] = ("range", "std", "iqr"),
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, tuple[float, float]]:
    """Two-level percentile bootstrap CIs for spread statistics of per-run accuracies, from one set of draws.

    Each replicate resamples runs (with replacement) and test examples (with replacement; the same
    example indices for every run, keeping the pairing), recomputes per-run accuracies and applies
    each of ``statistics`` ("range" | "std" | "iqr"). Returns the ``(alpha/2, 1 - alpha/2)`` percentiles per
    statistic; the draws do not depend on the statistic, so each CI is what a single-statistic call gives.
    Deterministic per ``seed``. All runs identical (or one run) -> ``(0.0, 0.0)``.

    Implementation: example resampling is expressed as multinomial count vectors ``w`` so that all
    per-run accuracies of a replicate are one product ``correct @ w / N``; counts are integers, so the
    products are exact and identical runs give exactly equal accuracies.
    """
    c = np.asarray(correct)
    if c.ndim != 2:
        raise ValueError(f"correct must be 2-D (runs, examples), got shape {c.shape}")
    if c.shape[0] == 0 or c.shape[1] == 0:
        raise ValueError(f"correct is empty, shape {c.shape}")
    if c.dtype != bool:
        if not np.all((c == 0) | (c == 1)):
            raise ValueError("correct must be boolean (or 0/1)")
        c = c.astype(bool)
    for statistic in statistics:
        if statistic not in ("range", "std", "iqr"):
            raise ValueError(f"statistic must be 'range', 'std' or 'iqr', got {statistic!r}")
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")

    r, n = c.shape
    n_boot = int(n_boot)
    # float32 sums of integers are exact below 2**24
    dtype = np.float32 if n < 2**24 else np.float64
    cf = c.astype(dtype)
    rng = np.random.default_rng(seed)
    chunk = max(
        1, min(n_boot, 2**24 // max(n, r))
    )  # bound temporary memory (~chunk * N)
    stats = np.empty((len(statistics), n_boot))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        ex = rng.integers(0, n, size=(b, n))
        flat = (ex + (np.arange(b) * n)[:, None]).ravel()
        counts = np.bincount(flat, minlength=b * n).reshape(b, n).astype(dtype)
        acc_all = (counts @ cf.T).astype(
            np.float64
        ) / n  # (b, R): every run on each resample
        runs = rng.integers(0, r, size=(b, r))
        acc = np.take_along_axis(acc_all, runs, axis=1)
        for row, statistic in enumerate(statistics):
            stats[row, start : start + b] = _spread_stat(acc, statistic)
    bounds = np.quantile(stats, [alpha / 2.0, 1.0 - alpha / 2.0], axis=1)  # (2, statistics)
    return {statistic: (float(lo), float(hi)) for statistic, lo, hi in zip(statistics, *bounds)}


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
            dis[i : i + step] = (
                codes[i : i + step, None, :] != codes[None, :, :]
            ).mean(axis=2)
    dis = np.clip(dis, 0.0, 1.0)
    np.fill_diagonal(dis, 0.0)
    return dis


def mean_pairwise_disagreement(preds: np.ndarray) -> float:
    """Mean disagreement (churn) over unordered run pairs ``i < j``; NaN for fewer than 2 runs."""
    p = _preds(preds)
    if p.shape[0] < 2:
        return float("nan")
    dis = disagreement_matrix(p)
    iu = np.triu_indices(p.shape[0], k=1)
    return float(dis[iu].mean())


def ambiguity(preds: np.ndarray, reference) -> float:
    """Fraction of examples where at least one run's prediction differs from the reference's
    (Marx et al. 2020). ``reference``: the reference run's predictions ``(N,)`` or a run index
    into ``preds``. A single run equal to the reference -> 0.0."""
    p = _preds(preds)
    ref = _reference(p, reference)
    return float(np.any(p != ref[None, :], axis=0).mean())


def discrepancy(preds: np.ndarray, reference) -> float:
    """Max over runs of the fraction of examples where that run differs from the reference
    (Marx et al. 2020). Always ``<= ambiguity(preds, reference)``. Same ``reference`` forms.
    """
    p = _preds(preds)
    ref = _reference(p, reference)
    return float((p != ref[None, :]).mean(axis=1).max())


def flip_counts(preds: np.ndarray) -> np.ndarray:
    """Per example, the number of runs whose prediction differs from the majority (mode) prediction:
    ``R - (size of the largest agreeing group)``. 0 = all agree; ties between modes give the same
    count whichever mode is chosen. Returns int64 ``(N,)`` with values in ``[0, R-1]``.
    """
    p = _preds(preds)
    r, n = p.shape
    codes, n_cls = _codes(p)
    if n * n_cls <= 2**26:
        flat = (np.arange(n)[None, :] * n_cls + codes).ravel()
        counts = np.bincount(flat, minlength=n * n_cls).reshape(n, n_cls)
        top = counts.max(axis=1)
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
