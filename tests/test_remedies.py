"""Ensembles and abstention on hand-made logits."""

import numpy as np
import pytest

from multisheets.measures.abstention import abstention_rows, abstention_tally
from multisheets.measures.ensembles import ensemble_groups, ensemble_rows, ensemble_tally
from multisheets.measures.population import mean_pairwise_disagreement
from multisheets.measures.probabilities import softmax, vote_counts

CAPACITY = {"tolerance": 1e-6, "max_iterations": 1000}


def certain(preds, n_classes=3, margin=8.0):
    """(R, N, C) logits whose argmax is `preds` (R, N)."""
    preds = np.asarray(preds)
    return np.where(np.arange(n_classes) == preds[..., None], margin, 0.0).astype(np.float16)


def rows(tally, n):
    return {row["measure"]: row["value"] for row in ensemble_rows(tally, n)}


def test_ensemble_groups_are_disjoint_seeded_and_as_many_as_fit():
    groups = ensemble_groups(10, 3, seed=0)
    assert len(groups) == 3 and all(len(group) == 3 for group in groups)
    used = np.concatenate(groups)
    assert len(set(used)) == 9 and set(used) <= set(range(10))
    assert all(np.array_equal(a, b) for a, b in zip(groups, ensemble_groups(10, 3, seed=0)))
    assert not all(np.array_equal(a, b) for a, b in zip(groups, ensemble_groups(10, 3, seed=1)))
    assert ensemble_groups(4, 5, seed=0) == []


def test_single_runs_reproduce_the_sheet_accuracy_and_disagreement():
    rng = np.random.default_rng(0)
    preds = rng.integers(0, 3, size=(6, 40))
    labels = rng.integers(0, 3, size=40)
    values = rows(ensemble_tally(certain(preds), labels, 1, 0, CAPACITY), 40)
    assert values["accuracy"] == pytest.approx((preds == labels).mean())
    assert values["accuracy_std"] == pytest.approx((preds == labels).mean(axis=1).std(ddof=1))
    assert values["churn"] == pytest.approx(mean_pairwise_disagreement(preds))


def test_ensembles_average_logits_not_probabilities():
    # averaged logits (0, -4.5, -4.55) -> class 0; averaged probabilities (0.28, 0.37, 0.35) -> class 1
    logits = np.array([[[0.0, 1.0, -10.0]], [[0.0, -10.0, 0.9]]], dtype=np.float16)
    assert softmax(logits).mean(axis=0).argmax() == 1
    tally = ensemble_tally(logits, np.array([0]), 2, 0, CAPACITY)
    assert tally["correct"].tolist() == [1.0]


def test_two_ensembles_of_two_by_hand():
    # 4 certain runs, 3 examples, classes 0/1, labels (0, 1, 1). The runs of the first seeded ensemble predict
    # (0, 0, 1), those of the second (0, 1, 1): accuracies 2/3 and 1, churn 1/3. Only example 1 differs, where
    # one ensemble gives the true class probability s(-8) and the other s(8) (s: the logistic function): a
    # binary symmetric channel with error e = s(-8), of capacity 1 - H(e).
    first, second = ensemble_groups(4, 2, seed=0)
    preds = np.zeros((4, 3), dtype=int)
    preds[first], preds[second] = [0, 0, 1], [0, 1, 1]
    values = rows(ensemble_tally(certain(preds, 2), np.array([0, 1, 1]), 2, 0, CAPACITY), 3)
    assert values["accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert values["accuracy_std"] == pytest.approx(np.std([2 / 3, 1], ddof=1))
    assert values["churn"] == pytest.approx(1 / 3)
    e = 1 / (1 + np.exp(8.0))
    assert values["viable_range_true"] == pytest.approx((1 - 2 * e) / 3, rel=1e-5)
    binary_entropy = -(e * np.log2(e) + (1 - e) * np.log2(1 - e))
    assert values["rashomon_capacity"] == pytest.approx((1 + 2 ** (1 - binary_entropy) + 1) / 3, rel=1e-5)


def test_too_few_runs_for_two_ensembles_gives_a_row_that_says_so():
    preds = np.array([[0, 1], [0, 0], [1, 1]])
    logits, labels = certain(preds, 2), np.array([0, 1])
    one = ensemble_tally(logits, labels, 2, 0, CAPACITY)  # 3 runs: one ensemble of 2, one run left over
    values = {row["measure"]: row for row in ensemble_rows(one, 2)}
    assert values["churn"]["n_ensembles"] == 1
    assert np.isnan(values["churn"]["value"]) and np.isnan(values["rashomon_capacity"]["value"])
    assert 0 <= values["accuracy"]["value"] <= 1
    none = {row["measure"]: row for row in ensemble_rows(ensemble_tally(logits, labels, 4, 0, CAPACITY), 2)}
    assert none["accuracy"]["n_ensembles"] == 0 and np.isnan(none["accuracy"]["value"])


def test_ensemble_tallies_add_over_example_sets():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(6, 30, 4)).astype(np.float16)
    labels = rng.integers(0, 4, size=30)
    whole = rows(ensemble_tally(logits, labels, 2, 7, CAPACITY), 30)
    a, b = (ensemble_tally(logits[:, part], labels[part], 2, 7, CAPACITY) for part in (slice(0, 12), slice(12, 30)))
    summed = rows({key: a[key] + b[key] for key in a}, 30)
    assert summed == pytest.approx(whole)


def test_abstention_by_hand():
    # 4 runs, 5 examples; the plurality class and the share of runs that agree on it:
    # x0: 0,0,0,0 (1.0)  x1: 0,0,0,1 (0.75)  x2: 0,0,1,1 (0.5, tie)  x3: 2,2,2,1 (0.75)  x4: 1,2,0,1 (0.5)
    preds = np.array([[0, 0, 0, 2, 1], [0, 0, 0, 2, 2], [0, 0, 1, 2, 0], [0, 1, 1, 1, 1]])
    labels = np.array([0, 1, 1, 2, 1])
    counts = vote_counts(preds, 3)
    mean_probs = np.full((5, 3), 1 / 3)
    mean_probs[2] = [0.2, 0.5, 0.3]  # the 0-1 tie of x2 goes to class 1 (right)
    thresholds = [0.0, 0.5, 0.75, 1.0]
    table = {
        (row["threshold"], row["measure"]): row["value"]
        for row in abstention_rows(abstention_tally(counts, mean_probs, labels, thresholds), 5, thresholds)
    }
    # plurality votes: 0, 0, 1, 2, 1 -> right on x0, x2, x3, x4; disagreement 1 - SC: 0, 1/2, 2/3, 1/2, 5/6
    assert table[0.0, "coverage"] == 1.0 and table[0.0, "selective_accuracy"] == pytest.approx(4 / 5)
    assert table[0.0, "residual_disagreement"] == pytest.approx(mean_pairwise_disagreement(preds))
    assert table[0.75, "coverage"] == pytest.approx(3 / 5)  # x0, x1, x3
    assert table[0.75, "selective_accuracy"] == pytest.approx(2 / 3)
    assert table[0.75, "residual_disagreement"] == pytest.approx((0 + 1 / 2 + 1 / 2) / 3)
    assert table[1.0, "coverage"] == pytest.approx(1 / 5) and table[1.0, "residual_disagreement"] == 0.0


def test_abstention_with_nothing_covered_or_a_single_run():
    counts = vote_counts(np.array([[0, 1], [1, 0]]), 2)  # two runs disagreeing everywhere
    table = {
        (row["threshold"], row["measure"]): row["value"]
        for row in abstention_rows(abstention_tally(counts, np.full((2, 2), 0.5), np.array([0, 0]), [1.0]), 2, [1.0])
    }
    assert table[1.0, "coverage"] == 0.0 and np.isnan(table[1.0, "selective_accuracy"])
    single = vote_counts(np.array([[0, 1]]), 2)
    table = {
        row["measure"]: row["value"]
        for row in abstention_rows(abstention_tally(single, np.full((2, 2), 0.5), np.array([0, 0]), [1.0]), 2, [1.0])
    }
    assert table["coverage"] == 1.0 and table["selective_accuracy"] == 0.5 and np.isnan(table["residual_disagreement"])
