"""Hand-pinned tests for multisheets.trust."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from multisheets.measures import per_model as t


def _two_class_logits(conf: np.ndarray) -> np.ndarray:
    """Logits [0, logit(c)]: softmax gives probability c (> .5) to class 1, so pred = 1, conf = c."""
    conf = np.asarray(conf, dtype=np.float64)
    return np.stack([np.zeros_like(conf), np.log(conf / (1 - conf))], axis=1)


# ----------------------------------------------------------------------------- softmax_confidence
def test_softmax_confidence_hand_values_and_stability():
    # [0, log 3] -> probs [1/4, 3/4]; [1000, 0] -> prob ~1 for class 0 (no overflow)
    conf, pred = t.softmax_confidence(np.array([[0.0, np.log(3.0)], [1000.0, 0.0]]))
    np.testing.assert_allclose(conf, [0.75, 1.0])
    np.testing.assert_array_equal(pred, [1, 0])
    # float16 input, batched (R, N, C); a tie goes to the lowest class index
    conf, pred = t.softmax_confidence(np.array([[[1.0, 1.0, 1.0]], [[2.0, 0.0, 0.0]]], dtype=np.float16))
    assert conf.shape == (2, 1) and pred.shape == (2, 1)
    assert conf[0, 0] == pytest.approx(1 / 3)
    assert conf[1, 0] == pytest.approx(np.exp(2) / (np.exp(2) + 2))
    np.testing.assert_array_equal(pred[:, 0], [0, 0])


def test_logits_validation():
    with pytest.raises(ValueError):
        t.softmax_confidence(np.zeros(3))
    with pytest.raises(ValueError):
        t.softmax_confidence(np.zeros((0, 3)))
    with pytest.raises(ValueError):
        t.softmax_confidence(np.array([[np.nan, 0.0]]))


# ----------------------------------------------------------------------------- ECE
def test_ece_perfectly_calibrated_is_zero():
    # bin [.733, .8): 4 examples at conf .75, 3 correct (acc .75)
    # bin [.867, .933): 10 examples at conf .9, 9 correct (acc .9)
    conf = np.r_[np.full(4, 0.75), np.full(10, 0.9)]
    labels = np.r_[[1, 1, 1, 0], np.ones(9, int), [0]]
    assert t.expected_calibration_error(_two_class_logits(conf), labels) == pytest.approx(0.0, abs=1e-12)


def test_ece_overconfident_known_values():
    # 10 examples at conf .9, only 5 correct: |.5 - .9| = .4
    conf = np.full(10, 0.9)
    labels = np.r_[np.ones(5, int), np.zeros(5, int)]
    assert t.expected_calibration_error(_two_class_logits(conf), labels) == pytest.approx(0.4)
    # mixed: 4 at .75 with 1 correct (gap .5, weight 4/14) + 10 at .9 with 9 correct (gap 0) -> 1/7
    conf = np.r_[np.full(4, 0.75), np.full(10, 0.9)]
    labels = np.r_[[1, 0, 0, 0], np.ones(9, int), [0]]
    assert t.expected_calibration_error(_two_class_logits(conf), labels) == pytest.approx(1 / 7)
    # one bin holds everything: 1 + 9 = 10 correct, conf sum 4*.75 + 10*.9 = 12 -> |10 - 12| / 14 = 1/7
    # (same number by coincidence); with 4 more correct at .75 it would be |13 - 12|/14 instead:
    assert t.expected_calibration_error(_two_class_logits(conf), labels, n_bins=1) == pytest.approx(2 / 14)
    labels_more = np.r_[[1, 1, 1, 1], np.ones(9, int), [0]]  # 13 correct
    assert t.expected_calibration_error(_two_class_logits(conf), labels_more, n_bins=1) == pytest.approx(1 / 14)


def test_ece_validation():
    with pytest.raises(ValueError):
        t.expected_calibration_error(np.zeros((3, 2)), np.zeros(2, int))
    with pytest.raises(ValueError):
        t.expected_calibration_error(np.zeros((3, 2)), np.zeros(3, int), n_bins=0)
    with pytest.raises(ValueError):
        t.expected_calibration_error(np.zeros((2, 3, 2)), np.zeros(3, int))


# ----------------------------------------------------------------------------- per_example_loss
def test_per_example_loss_hand_values():
    logits = np.array([[0.0, np.log(3.0)], [0.0, np.log(3.0)], [1000.0, 0.0]], dtype=np.float32)
    # -log(3/4), -log(1/4), -log(softmax(1000,0)[1]) = 1000 (+log(1 + e^-1000) ~ 0)
    loss = t.per_example_loss(logits, np.array([1, 0, 1]))
    assert loss.dtype == np.float64
    np.testing.assert_allclose(loss, [np.log(4 / 3), np.log(4.0), 1000.0], rtol=1e-6)
    # batched (R, N, C) with shared labels
    batched = t.per_example_loss(np.stack([logits, logits]), np.array([1, 0, 1]))
    assert batched.shape == (2, 3)
    np.testing.assert_allclose(batched[1], loss)
    with pytest.raises(ValueError):
        t.per_example_loss(logits, np.array([1, 0, 2]))  # label out of range


# ----------------------------------------------------------------------------- subgroups
def test_per_class_accuracy_hand_values():
    labels = np.array([0, 0, 1, 1, 2, 2])
    preds = np.array([0, 1, 1, 1, 0, 2])
    acc = t.per_class_accuracy(preds, labels, n_classes=4)
    # class 0: 1/2, class 1: 2/2, class 2: 1/2, class 3: no examples -> NaN
    np.testing.assert_allclose(acc[:3], [0.5, 1.0, 0.5])
    assert np.isnan(acc[3])
    # balanced set: mean of per-class accuracies == overall accuracy (4/6)
    assert np.nanmean(acc) == pytest.approx(np.mean(preds == labels)) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        t.per_class_accuracy(preds, labels, n_classes=2)  # label 2 out of range
    with pytest.raises(ValueError):
        t.per_class_accuracy(preds[:5], labels, n_classes=3)


def test_worst_group_summary():
    s = t.worst_group_summary(pd.Series({"water": 1.0, "land": 1 / 3}))
    assert s["worst_group"] == "land" and s["best_group"] == "water"
    assert s["worst"] == pytest.approx(1 / 3) and s["best"] == 1.0
    assert s["gap"] == pytest.approx(2 / 3) and s["n_groups"] == 2
    with pytest.raises(ValueError, match="pandas Series"):
        t.worst_group_summary({"water": 1.0})


def test_worst_group_ties_nan_and_empty():
    s = t.worst_group_summary(pd.Series({"a": 0.5, "b": np.nan, "c": 0.5}))
    assert s["worst_group"] == "a" and s["gap"] == 0.0 and s["n_groups"] == 2
    with pytest.raises(ValueError):
        t.worst_group_summary(pd.Series({"a": np.nan}))


# ----------------------------------------------------------------------------- membership inference
def test_mia_identical_distributions_is_chance():
    rng = np.random.default_rng(0)
    res = t.membership_inference(rng.exponential(size=20_000), rng.exponential(size=20_000))
    assert res["attack_accuracy"] == pytest.approx(0.5, abs=0.02)
    assert res["n_eval"] == 20_000 and res["n_train"] == 20_000


def test_mia_perfectly_separated():
    rng = np.random.default_rng(1)
    member_loss = rng.uniform(0.0, 1.0, size=500)  # members: low loss
    nonmember_loss = rng.uniform(2.0, 3.0, size=700)  # truncated to 500
    res = t.membership_inference(member_loss, nonmember_loss)
    assert res["attack_accuracy"] == 1.0 and res["train_accuracy"] == 1.0
    assert 1.0 <= res["threshold"] <= 2.0 and res["rule"] == "score < threshold"
    assert res["n_eval"] == 500  # 2 * (500 - 250)
    # the same scores as confidences: higher is member
    res = t.membership_inference(-member_loss, -nonmember_loss, higher_is_member=True)
    assert res["attack_accuracy"] == 1.0 and -2.0 <= res["threshold"] <= -1.0
    # wrong direction: the attack can only say "everyone" or "no one" -> 0.5
    res = t.membership_inference(member_loss, nonmember_loss, higher_is_member=True)
    assert res["attack_accuracy"] == 0.5


def test_mia_small_hand_case_and_determinism():
    # 2 members, 2 non-members: each half gets one of each; perfectly separated -> 1.0
    res = t.membership_inference(np.array([0.1, 0.2]), np.array([0.9, 0.8]), seed=3)
    assert res["attack_accuracy"] == 1.0 and res["n_eval"] == 2
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 300), rng.normal(0.5, 1, 300)
    assert t.membership_inference(a, b, seed=4) == t.membership_inference(a, b, seed=4)
    with pytest.raises(ValueError):
        t.membership_inference(np.array([0.1]), np.array([0.5, 0.6]))
    with pytest.raises(ValueError):
        t.membership_inference(np.array([0.1, np.nan]), np.array([0.5, 0.6]))
