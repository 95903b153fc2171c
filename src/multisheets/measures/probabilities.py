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
