"""What a run trains on: its sample of the training split and its (possibly noisy) labels.

Two sources of multiplicity that the data *order* (`data_seed`) does not cover: which training images a run sees
(`train_fraction`, `bootstrap`) and which of their labels are wrong (`label_noise`). Each is drawn from its own seed
stream (`sample_seed`, `label_noise_seed`, see `study.runs.derive_seeds`), so a study can hold the sample fixed while
the order varies, or the reverse. Part of a run's definition, so torch-free: training draws from it, and the run's
model file records the sample it drew (`models.checkpoint`), which is what membership inference reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# The values that train on the whole split with its own labels: exactly what runs did before these settings existed.
FULL_SAMPLE = {"train_fraction": 1.0, "bootstrap": False}
NO_LABEL_NOISE = 0.0


def samples_training_split(hp: dict[str, Any]) -> bool:
    """Whether a run trains on a drawn sample rather than the whole split in its own order."""
    return hp.get("train_fraction", 1.0) != FULL_SAMPLE["train_fraction"] or bool(hp.get("bootstrap", False))


def flips_labels(hp: dict[str, Any]) -> bool:
    return hp.get("label_noise", NO_LABEL_NOISE) != NO_LABEL_NOISE


def sample_size(hp: dict[str, Any], n: int) -> int:
    """Images (with repeats, under the bootstrap) a run draws from a training split of `n`: at least one."""
    return max(1, round(hp.get("train_fraction", 1.0) * n))


def training_sample(hp: dict[str, Any], seeds: dict[str, int], n: int) -> np.ndarray | None:
    """Positions in the training split a run trains on, sorted (repeats kept under the bootstrap), or None for the
    whole split. `train_fraction` x n positions are drawn without replacement, or with it when `bootstrap` is set
    (`train_fraction: 1, bootstrap: true` is the classic bootstrap: about 63 % distinct images)."""
    if not samples_training_split(hp):
        return None
    rng = np.random.default_rng(seeds["sample_seed"])
    drawn = rng.choice(n, sample_size(hp, n), replace=bool(hp.get("bootstrap", False)))
    return np.sort(drawn).astype(np.int64)


def noisy_labels(hp: dict[str, Any], seeds: dict[str, int], labels: np.ndarray, num_classes: int) -> np.ndarray:
    """`labels` with a seeded `label_noise` fraction of them (exactly round(fraction x n), chosen without
    replacement) replaced by a different class drawn uniformly: symmetric noise in which a flipped label is never
    its true class. The same positions of the training split are flipped whatever sample the run draws, so the
    two settings stay separate sources."""
    if not flips_labels(hp):
        return labels
    if num_classes < 2:
        raise ValueError("label_noise needs at least two classes")
    rng = np.random.default_rng(seeds["label_noise_seed"])
    flipped = rng.choice(len(labels), round(hp["label_noise"] * len(labels)), replace=False)
    # A shift of 1 .. C-1 classes: uniform over the other classes.
    shift = rng.integers(1, num_classes, size=len(flipped))
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + shift) % num_classes
    return noisy
