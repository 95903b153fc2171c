"""Per-model trustworthiness metrics, each expressed so that it can sit next to accuracy.

Conventions: ``logits`` float ``(N, C)`` for one run (``(R, N, C)`` where noted), stored as float16
and up-cast to float64 here; ``labels`` int ``(N,)``; accuracies are fractions in ``[0, 1]``.
All functions are pure numpy/pandas and raise ``ValueError`` on malformed input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from multisheets.measures.probabilities import log_softmax

__all__ = [
    "softmax_confidence",
    "expected_calibration_error",
    "per_class_accuracy",
    "worst_group_summary",
    "membership_inference",
    "per_example_loss",
]


# --------------------------------------------------------------------------- validation helpers
def _logits(logits, allow_batch: bool = True) -> np.ndarray:
    x = np.asarray(logits)
    ndims = (2, 3) if allow_batch else (2,)
    if x.ndim not in ndims:
        want = "(N, C) or (R, N, C)" if allow_batch else "(N, C)"
        raise ValueError(f"logits must have shape {want}, got {x.shape}")
    if x.size == 0 or x.shape[-1] == 0:
        raise ValueError(f"logits is empty, shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"logits must be numeric, got {x.dtype}")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("logits contain NaN/inf")
    return x


def _labels(labels, n: int, n_classes: int | None = None) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must have an integer dtype, got {y.dtype}")
    if n_classes is not None and n > 0 and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes})")
    return y


def _pred_vector(preds, n: int | None = None) -> np.ndarray:
    p = np.asarray(preds)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"preds must be a non-empty 1-D array (one run), got shape {p.shape}")
    if n is not None and p.shape != (n,):
        raise ValueError(f"preds shape {p.shape} does not match labels ({n},)")
    if not np.issubdtype(p.dtype, np.integer):
        raise ValueError(f"preds must have an integer dtype, got {p.dtype}")
    return p


# --------------------------------------------------------------------------- calibration / loss
def softmax_confidence(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(confidence, predicted)``: max softmax probability (float64) and argmax label (int64) over
    the last axis, for ``(N, C)`` or ``(R, N, C)`` logits. Stable (max-shifted) softmax; ties in the
    argmax go to the lowest class index, matching ``np.argmax(logits, -1)``."""
    x = _logits(logits)
    pred = np.argmax(x, axis=-1).astype(np.int64)
    conf = np.exp(np.max(log_softmax(x), axis=-1))
    return conf, pred


def expected_calibration_error(logits: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """ECE of one run: ``sum_b |B_b|/N * |acc_b - conf_b|`` over ``n_bins`` equal-width confidence
    bins on [0, 1]. Bin b holds confidences in ``[b/n_bins, (b+1)/n_bins)``; the last bin also holds
    confidence 1.0. Empty bins contribute 0."""
    x = _logits(logits, allow_batch=False)
    y = _labels(labels, x.shape[0])
    if isinstance(n_bins, bool) or int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    n_bins = int(n_bins)
    conf, pred = softmax_confidence(x)
    hit = (pred == y).astype(np.float64)
    bins = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, weights=hit, minlength=n_bins) - np.bincount(bins, weights=conf, minlength=n_bins))
    # sum_b |B|/N * |sum_hit/|B| - sum_conf/|B|| == sum_b |sum_hit - sum_conf| / N
    return float(gap[count > 0].sum() / x.shape[0])


def per_example_loss(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy ``-log softmax(logits)[label]`` per example (float64, stable log-softmax).
    ``logits`` ``(N, C)`` -> ``(N,)``; ``(R, N, C)`` -> ``(R, N)`` with the same labels for every run.
    """
    x = _logits(logits)
    y = _labels(labels, x.shape[-2], n_classes=x.shape[-1])
    logp = log_softmax(x)
    idx = np.broadcast_to(y, x.shape[:-1])[..., None]
    return -np.take_along_axis(logp, idx, axis=-1)[..., 0]


# --------------------------------------------------------------------------- class and group accuracy
def per_class_accuracy(preds: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Accuracy of one run (preds ``(N,)``) restricted to each true class; ``(n_classes,)`` float64,
    NaN for a class with no examples."""
    if isinstance(n_classes, bool) or int(n_classes) != n_classes or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    y = np.asarray(labels)
    p = _pred_vector(preds, y.shape[0] if y.ndim == 1 else None)
    y = _labels(y, p.shape[0], n_classes=int(n_classes))
    total = np.bincount(y, minlength=n_classes).astype(np.float64)
    hits = np.bincount(y, weights=(p == y).astype(np.float64), minlength=n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, hits / np.where(total > 0, total, 1.0), np.nan)


def worst_group_summary(group_acc: pd.Series) -> dict:
    """``{"worst", "best", "gap" (best - worst), "worst_group", "best_group", "n_groups"}`` over the
    non-NaN entries of one run's accuracy per group (a Series indexed by group name); ties resolve to the
    first group in index order. Raises if nothing is left. The sheet's ``worst_group`` is this minimum.
    """
    if not isinstance(group_acc, pd.Series):
        raise ValueError("group_acc must be a pandas Series indexed by group name")
    acc = group_acc.astype(np.float64).dropna()
    if acc.empty:
        raise ValueError("group_acc has no non-NaN entries")
    worst, best = float(acc.min()), float(acc.max())
    return {
        "worst": worst,
        "best": best,
        "gap": best - worst,
        "worst_group": acc.idxmin(),
        "best_group": acc.idxmax(),
        "n_groups": int(acc.size),
    }


# --------------------------------------------------------------------------- privacy
def _scores(s, name: str) -> np.ndarray:
    a = np.asarray(s, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.size < 2:
        raise ValueError(f"{name} needs at least 2 scores (one per half), got {a.size}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contain NaN/inf")
    return a


def membership_inference(
    member_scores: np.ndarray,
    nonmember_scores: np.ndarray,
    seed: int = 0,
    higher_is_member: bool = False,
) -> dict:
    """Balanced threshold membership-inference attack on per-example scores.

    Both sets are truncated to ``n = min(len)`` (seeded choice), each is split into halves A and B
    (seeded permutation, ``n // 2`` in A). The threshold maximising attack accuracy on A (ties: the
    lowest threshold in "member-ness" order) is applied to B. 0.5 = no leakage; higher = worse privacy.
    Scores: per-example loss (``higher_is_member=False``) or confidence (``True``).

    Returns ``attack_accuracy`` (on B), ``train_accuracy`` (on A), ``threshold`` (original score
    units, midpoint between adjacent A scores; may be +-inf = predict everything one class),
    ``rule`` ("score > threshold" or "score < threshold" means member), ``n_eval`` (2 x |B half|),
    ``n_train`` (2 x |A half|).
    """
    m = _scores(member_scores, "member_scores")
    nm = _scores(nonmember_scores, "nonmember_scores")
    rng = np.random.default_rng(seed)
    n = min(m.size, nm.size)
    m = m[rng.permutation(m.size)[:n]]
    nm = nm[rng.permutation(nm.size)[:n]]
    sign = 1.0 if higher_is_member else -1.0
    m, nm = sign * m, sign * nm  # now "member if score > t"
    n_a = n // 2
    m_a, m_b, nm_a, nm_b = np.sort(m[:n_a]), m[n_a:], np.sort(nm[:n_a]), nm[n_a:]

    # candidate cut "member iff s > t" with t = -inf or any distinct A score
    u = np.unique(np.concatenate([m_a, nm_a]))
    cuts = np.concatenate([[-np.inf], u])
    tp = n_a - np.searchsorted(m_a, cuts, side="right")
    tn = np.searchsorted(nm_a, cuts, side="right")
    acc_a = (tp + tn) / (2.0 * n_a)
    best = int(np.argmax(acc_a))
    if best == 0:
        t = -np.inf
    elif best == u.size:
        t = np.inf
    else:  # midpoint between the cut value and the next distinct score
        t = 0.5 * u[best - 1] + 0.5 * u[best]
    acc_b = (np.count_nonzero(m_b > t) + np.count_nonzero(nm_b <= t)) / (m_b.size + nm_b.size)
    return {
        "attack_accuracy": float(acc_b),
        "train_accuracy": float(acc_a[best]),
        "threshold": float(sign * t),
        "rule": "score > threshold" if higher_is_member else "score < threshold",
        "n_eval": int(m_b.size + nm_b.size),
        "n_train": int(2 * n_a),
    }
