"""From logits to what every measure counts with: class probabilities (float64, max-shifted) and votes. One
implementation each, for the per-model metrics, the population measures and the per-example measures alike."""

from __future__ import annotations

import numpy as np


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Log class probabilities along the last axis, shifted by the maximum so that no exp overflows (float64 in)."""
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Class probabilities from logits along the last axis, computed in float64 and returned as `dtype`."""
    values = np.asarray(logits, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError("logits contain NaN/inf: a diverged run cannot belong to a set")
    values = values - values.max(axis=-1, keepdims=True)
    exp = np.exp(values)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(dtype)


def vote_counts(preds: np.ndarray, n_classes: int) -> np.ndarray:
    """``(N, C)``: how many runs predict each class for each example."""
    preds = np.asarray(preds)
    n = preds.shape[1]
    flat = (np.arange(n)[None, :] * n_classes + preds).ravel()
    return np.bincount(flat, minlength=n * n_classes).reshape(n, n_classes)


def softmax_neg_entropy(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probs, neg_entropy): the float64 softmax along the last axis and sum_c p log p (nats) of each row.

    The log-probabilities are ``shifted - log(sum exp(shifted))``: one log per row instead of one per class,
    which is what the capacity solvers' divergences need (`capacity.channel_capacity`'s `negent`). `probs` is
    computed exactly as `softmax` computes it before its cast, so ``probs.astype(float32) == softmax(logits)``.
    """
    values = np.asarray(logits, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError("logits contain NaN/inf: a diverged run cannot belong to a set")
    values = values - values.max(axis=-1, keepdims=True)
    exp = np.exp(values)
    total = exp.sum(axis=-1, keepdims=True)
    probs = exp / total
    # sum p (shifted - log total); a class whose p underflowed to 0 adds 0 * shifted = 0, as 0 log 0 = 0
    negent = np.einsum("...c,...c->...", probs, values) - np.log(total[..., 0]) * probs.sum(axis=-1)
    return probs, negent
