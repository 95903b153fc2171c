"""Hand-pinned tests for multisheets.measures."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from multisheets.measures import population as m

# 3 runs x 4 examples used throughout:
#   run0: 0 1 2 0
#   run1: 0 1 1 0
#   run2: 1 1 2 2
PREDS = np.array([[0, 1, 2, 0], [0, 1, 1, 0], [1, 1, 2, 2]])


# ----------------------------------------------------------------------------- rashomon_set
def test_rashomon_boundary_tie_included_and_nan_excluded():
    acc = pd.Series({"a": 0.90, "b": 0.88, "c": 0.87, "d": np.nan, "e": 0.85})
    # best 0.90, eps 0.03 -> boundary 0.87 (0.9 - 0.03 is 0.8700000000000001 in float): c is a tie
    assert list(m.rashomon_set(acc, 0.03)) == ["a", "b", "c"]
    # eps 0: only the best (and exact ties of the best)
    assert list(m.rashomon_set(pd.Series({"x": 0.8, "y": 0.9, "z": 0.9}), 0.0)) == [
        "y",
        "z",
    ]
    # large eps keeps every finite run, in original order
    assert list(m.rashomon_set(acc, 1.0)) == ["a", "b", "c", "e"]


def test_rashomon_empty_and_all_nan():
    assert len(m.rashomon_set(pd.Series([], dtype=float), 0.01)) == 0
    assert len(m.rashomon_set(pd.Series({"a": np.nan, "b": np.nan}), 0.01)) == 0


def test_rashomon_rejects_bad_epsilon():
    with pytest.raises(ValueError):
        m.rashomon_set(pd.Series({"a": 0.9}), -0.1)
    with pytest.raises(ValueError):
        m.rashomon_set(np.array([0.9]), 0.1)


# ----------------------------------------------------------------------------- accuracy_spread
def test_accuracy_spread_hand_values():
    s = m.accuracy_spread(np.array([0.8, 0.9, 0.7, 0.6]))
    # mean 0.75; squared deviations .0025+.0225+.0025+.0225 = .05, /3 -> std sqrt(1/60)
    # sorted .6 .7 .8 .9: q25 at position .75 -> .675, q75 at 2.25 -> .825, iqr .15
    assert s["n_runs"] == 4
    assert s["mean"] == pytest.approx(0.75)
    assert s["min"] == pytest.approx(0.6) and s["max"] == pytest.approx(0.9)
    assert s["range"] == pytest.approx(0.3)
    assert s["std"] == pytest.approx(np.sqrt(1 / 60))
    assert s["iqr"] == pytest.approx(0.15)


def test_accuracy_spread_single_run_and_identical():
    s = m.accuracy_spread([0.7])  # one value has no spread: blank, never a 0 that reads as "no multiplicity"
    assert (s["n_runs"], s["mean"]) == (1, 0.7)
    assert np.isnan([s["range"], s["std"], s["iqr"]]).all()
    s = m.accuracy_spread([0.7, 0.7, 0.7])
    assert s["range"] == 0.0 and s["std"] == 0.0 and s["iqr"] == 0.0


def test_accuracy_spread_rejects_empty_and_nan():
    with pytest.raises(ValueError):
        m.accuracy_spread([])
    with pytest.raises(ValueError):
        m.accuracy_spread([0.5, np.nan])


# ----------------------------------------------------------------------------- disagreement
def test_disagreement_matrix_hand_values():
    d = m.disagreement_matrix(PREDS)
    # d01: example 2 -> 1/4; d02: examples 0,3 -> 2/4; d12: examples 0,2,3 -> 3/4
    expected = np.array([[0, 0.25, 0.5], [0.25, 0, 0.75], [0.5, 0.75, 0]])
    np.testing.assert_allclose(d, expected)
    np.testing.assert_array_equal(d, d.T)
    assert np.all(np.diag(d) == 0)
    assert m.mean_pairwise_disagreement(PREDS) == pytest.approx(0.5)  # (.25+.5+.75)/3


def test_disagreement_many_classes_path_matches_brute_force():
    preds = np.random.default_rng(0).integers(0, 100, size=(7, 50))
    brute = np.array([[np.mean(a != b) for b in preds] for a in preds])
    np.testing.assert_allclose(m.disagreement_matrix(preds), brute)
    few = preds % 3  # matmul path
    brute = np.array([[np.mean(a != b) for b in few] for a in few])
    np.testing.assert_allclose(m.disagreement_matrix(few), brute)


def test_single_run_and_identical_runs():
    one = PREDS[:1]
    np.testing.assert_array_equal(m.disagreement_matrix(one), [[0.0]])
    assert np.isnan(m.mean_pairwise_disagreement(one))
    assert m.ambiguity(one, 0) == 0.0 and m.discrepancy(one, 0) == 0.0
    same = np.tile(PREDS[0], (5, 1))
    assert np.all(m.disagreement_matrix(same) == 0)
    assert m.mean_pairwise_disagreement(same) == 0.0
    assert m.ambiguity(same, PREDS[0]) == 0.0 and m.discrepancy(same, PREDS[0]) == 0.0
    assert np.all(m.flip_counts(same) == 0)


def test_preds_validation():
    with pytest.raises(ValueError):
        m.disagreement_matrix(np.zeros((0, 4), int))
    with pytest.raises(ValueError):
        m.disagreement_matrix(np.zeros(4, int))
    with pytest.raises(ValueError):
        m.disagreement_matrix(np.zeros((2, 4)))  # float preds
    with pytest.raises(ValueError):
        m.ambiguity(PREDS, np.zeros(3, int))  # wrong reference length
    with pytest.raises(ValueError):
        m.ambiguity(PREDS, 5)


# ----------------------------------------------------------------------------- ambiguity / discrepancy
def test_ambiguity_and_discrepancy_hand_values():
    # vs run0: example 0 (run2), 2 (run1), 3 (run2) differ -> ambiguity 3/4
    # per-run differences from run0: 0, 1/4, 2/4 -> discrepancy 1/2
    assert m.ambiguity(PREDS, 0) == pytest.approx(0.75)
    assert m.discrepancy(PREDS, 0) == pytest.approx(0.5)
    assert m.ambiguity(PREDS, PREDS[0]) == m.ambiguity(PREDS, 0)
    # external reference 0 0 0 0: every example has some run != 0 except none -> 4/4; run2 differs on 4/4
    assert m.ambiguity(PREDS, np.zeros(4, int)) == 1.0
    assert m.discrepancy(PREDS, np.zeros(4, int)) == 1.0


def test_ambiguity_at_least_discrepancy():
    rng = np.random.default_rng(1)
    for _ in range(20):
        preds = rng.integers(0, 4, size=(6, 30))
        for ref in range(6):
            assert m.ambiguity(preds, ref) >= m.discrepancy(preds, ref)


# ----------------------------------------------------------------------------- flips
def test_flip_counts_hand_values():
    # example 0: 0 0 1 -> 1; example 1: 1 1 1 -> 0; example 2: 2 1 2 -> 1; example 3: 0 0 2 -> 1
    np.testing.assert_array_equal(m.flip_counts(PREDS), [1, 0, 1, 1])
    dist = m.flip_rate_distribution(PREDS)
    assert list(dist.index) == [0, 1, 2]
    np.testing.assert_allclose(dist.to_numpy(), [0.25, 0.75, 0.0])
    assert dist.sum() == pytest.approx(1.0)


def test_flip_counts_ties_and_single_run():
    preds = np.array([[0, 0, 5], [0, 1, 6], [1, 2, 7], [1, 3, 8]])
    # example 0: 0 0 1 1 (tied modes) -> 2; example 1: all distinct -> 3; example 2: all distinct -> 3
    np.testing.assert_array_equal(m.flip_counts(preds), [2, 3, 3])
    np.testing.assert_allclose(m.flip_rate_distribution(preds).to_numpy(), [0, 0, 1 / 3, 2 / 3])
    one = m.flip_rate_distribution(PREDS[:1])
    assert list(one.index) == [0] and one.iloc[0] == 1.0


def test_flip_counts_many_classes_path_matches_brute_force():
    # 70,000 distinct labels -> n * n_classes > 2**26 -> sorted-column path
    r, n = 70, 1000
    preds = np.arange(r * n).reshape(r, n)
    preds[:, : n // 2] = 7
    preds[: r // 3, n // 2 :] = -1  # a majority of size r//3 on the other half
    brute = [r - Counter(col).most_common(1)[0][1] for col in preds.T]
    np.testing.assert_array_equal(m.flip_counts(preds), brute)


def test_rashomon_boundary_tie_survives_float32_accuracies():
    """Accuracies are counts over n images; computed in float32 (as metric files before 2026-11-26 were), 302/500
    and 312/500 are off by ~3e-8, so a run exactly epsilon = 10/500 below the best fell out of the set against the
    documented tie rule. Ties must hold for float32-rounded fractions too."""
    best, tie, below = (np.float32(k) / np.float32(500) for k in (312, 302, 301))
    acc = pd.Series({"best": float(best), "tie": float(tie), "below": float(below)})
    assert list(m.rashomon_set(acc, 0.02)) == ["best", "tie"]


# ----------------------------------------------------------------------------- fast paths vs brute force
def _brute_pairwise(preds):
    r = preds.shape[0]
    return np.mean([(preds[i] != preds[j]).mean() for i in range(r) for j in range(i + 1, r)])


@pytest.mark.parametrize("seed", range(6))
def test_vote_count_measures_equal_brute_force(seed):
    """Disagreement from vote counts, flip counts and the chunked ambiguity/discrepancy equal their definitions,
    for dense labels, labels with gaps, negative and large labels, and int8 predictions (what the store keeps)."""
    rng = np.random.default_rng(seed)
    r, n = int(rng.integers(2, 150)), int(rng.integers(1, 60))
    labels = [np.arange(10), np.array([0, 7, 9]), np.array([-3, 5, 40000]), np.array([2, 70000, 10**9])][seed % 4]
    preds = labels[rng.integers(0, len(labels), (r, n))]
    if seed % 4 == 1:
        preds = preds.astype(np.int8)
    assert m.mean_pairwise_disagreement(preds) == pytest.approx(_brute_pairwise(preds), abs=1e-12)
    matrix = np.array([[(a != b).mean() for b in preds] for a in preds])
    np.testing.assert_allclose(m.disagreement_matrix(preds), matrix, atol=1e-12)
    modes = [np.unique(column, return_counts=True)[1].max() for column in preds.T]
    np.testing.assert_array_equal(m.flip_counts(preds), r - np.array(modes))
    reference = preds[int(rng.integers(0, r))]
    assert m.ambiguity(preds, reference) == pytest.approx(np.any(preds != reference, axis=0).mean())
    assert m.discrepancy(preds, reference) == pytest.approx((preds != reference).mean(axis=1).max())
