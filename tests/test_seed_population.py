"""The seed population's tables: convergence with the number of seeds, and disagreement against test error."""

import numpy as np
import pandas as pd
import pytest

from multisheets.measures.population import class_aggregated_calibration_error
from multisheets.sheets.predictions import PredictionStore
from multisheets.sheets.seed_population import convergence_rows, gde_rows, seed_counts
from multisheets.sheets.sheet import REPORTED_SPLIT, scenario_rows

SETTINGS = {"epsilon": 1.0, "confidence": 0.95, "expected_range_k": 3, "instances": False, "epsilon_curve": [1.0]}


def population(tmp_path, predicted: np.ndarray, labels: np.ndarray, seeds: list[int], classes: int):
    """A study of base runs only, each with clean test predictions `predicted[i]` (stored as one-hot logits) and
    a membership attack row, as evaluation writes them."""
    rows, files = [], {}
    for index, seed in enumerate(seeds):
        run_id = f"base__seed={seed}"
        path = tmp_path / f"{run_id}.npz"
        logits = (8 * np.eye(classes)[predicted[index]]).astype(np.float16)
        np.savez(path, clean=logits, **{"clean#predicted": predicted[index].astype(np.int16)})
        files[run_id, "clean"] = path
        accuracy = float((predicted[index] == labels).mean())
        common = {"run_id": run_id, "family": "clean", "intervention": "clean", "status": "completed", "ece": 0.1}
        rows += [
            common | {"split": "val", "n": 10, "accuracy": 0.9, "metric": "accuracy"},
            common | {"split": "test", "n": len(labels), "accuracy": accuracy, "metric": "accuracy"},
            common | {"family": "privacy", "intervention": "mia_loss", "split": "test", "n": 20, "accuracy": 0.5,
                      "metric": "attack_accuracy"},
        ]  # fmt: skip
    runs = pd.DataFrame({"run_id": [f"base__seed={s}" for s in seeds], "seed": seeds, "dimension": ""})
    store = PredictionStore(files, {"clean": "clean"}, labels)
    return pd.DataFrame(rows), runs, store


def test_the_curve_is_drawn_at_fixed_counts_and_the_studys_own():
    assert seed_counts(7) == [2, 3, 5, 7] and seed_counts(50) == [2, 3, 5, 10, 20, 30, 50] and seed_counts(1) == []


def test_convergence_takes_the_first_seeds_in_seed_order(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    seeds = [10, 2, 7, 1, 5, 3, 4]  # run ids sort otherwise: the curve follows the seeds
    predicted = np.where(rng.random((7, 200)) < 0.7, labels, rng.integers(0, 3, (7, 200)))
    metrics, runs, store = population(tmp_path, predicted, labels, seeds, 3)
    table = convergence_rows(metrics, runs, store, SETTINGS)
    assert sorted(table["n_seeds"].unique()) == [2, 3, 5, 7]
    first_three = pd.Index([f"base__seed={s}" for s in (1, 2, 3)])
    reported = metrics[metrics["split"] == REPORTED_SPLIT]
    expected = {
        row["measure"]: row["value"]
        for row in scenario_rows("seed", first_three, reported, ["clean"], store, "base__seed=1", SETTINGS)
    }
    got = table[(table["n_seeds"] == 3) & (table["intervention"] == "clean")].set_index("measure")["value"]
    assert got["range"] == pytest.approx(expected["range"]) and got["disagreement"] == expected["disagreement"]
    assert {"between_run_std", "range_null", "p_between_run"} <= set(got.index)


def calibrated_population(tmp_path, sharpen: float, seed: int = 0):
    """Runs drawn independently from each example's class distribution p; labels drawn from p sharpened by
    `sharpen` (1 = the ensemble is calibrated, so disagreement = error in expectation)."""
    rng = np.random.default_rng(seed)
    n, classes, r = 6000, 4, 16
    p = rng.dirichlet(np.full(classes, 0.4), size=n)
    truth = p**sharpen / (p**sharpen).sum(1, keepdims=True)
    labels = (truth.cumsum(1) > rng.random((n, 1))).argmax(1)
    predicted = np.stack([(p.cumsum(1) > rng.random((n, 1))).argmax(1) for _ in range(r)])
    return population(tmp_path, predicted, labels, list(range(r)), classes)


def test_disagreement_equals_error_for_a_calibrated_population_and_not_otherwise(tmp_path):
    rows = {}
    for sharpen in (1.0, 3.0, 0.5):
        (folder := tmp_path / str(sharpen)).mkdir()
        gde = gde_rows(*calibrated_population(folder, sharpen), SETTINGS).set_index("intervention")
        assert list(gde.index) == ["clean"]  # the membership attack's accuracy is no classifier's error
        rows[sharpen] = gde.loc["clean"]
    assert rows[1.0]["gap"] == pytest.approx(0, abs=0.01)
    # labels more predictable than the runs (an under-confident ensemble): error < disagreement; less: the reverse
    assert rows[3.0]["gap"] > 0.05 and rows[0.5]["gap"] < -0.05
    # the vote ensemble's CACE separates them (16 runs: not 0 even when calibrated), and bounds every gap
    assert rows[1.0]["cace"] < 0.5 * min(rows[3.0]["cace"], rows[0.5]["cace"])
    assert all(row["within_cace"] for row in rows.values())


def test_cace_by_hand():
    # 2 runs; example 0: both say 0 (true 0), example 1: one says 0, one 1 (true 1): shares 1 and 1/2, calibrated
    assert class_aggregated_calibration_error(np.array([[0, 1], [0, 0]]), np.array([0, 1])) == 0
    # both runs always say 0: the pairs with share 1 are right half the time, those with share 0 half the time
    assert class_aggregated_calibration_error(np.array([[0, 0], [0, 0]]), np.array([0, 1])) == 1


def test_gde_numbers_by_hand(tmp_path):
    labels = np.array([0, 0, 1, 1])
    predicted = np.array([[0, 0, 1, 0], [0, 1, 1, 1], [0, 0, 0, 1]])
    metrics, runs, store = population(tmp_path, predicted, labels, [0, 1, 2], 2)
    row = gde_rows(metrics, runs, store, SETTINGS).iloc[0]
    assert row["test_error"] == pytest.approx(1 - np.mean([0.75, 0.75, 0.75]))
    # pairs: (0,1) differ on 2 of 4, (0,2) on 2, (1,2) on 2
    assert row["disagreement"] == pytest.approx(0.5) and row["gap"] == pytest.approx(0.25)
    assert row["mean_ece"] == pytest.approx(0.1)


def test_one_seed_gives_empty_tables_with_their_columns(tmp_path):
    metrics, runs, store = population(tmp_path, np.array([[0, 1]]), np.array([0, 1]), [0], 2)
    assert gde_rows(metrics, runs, store, SETTINGS).empty and convergence_rows(metrics, runs, store, SETTINGS).empty
    assert "disagreement" in gde_rows(metrics, runs, store, SETTINGS).columns
