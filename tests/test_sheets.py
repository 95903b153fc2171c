import numpy as np
import pandas as pd
import pytest

from multisheets.sheets import PredictionStore, build_sheet, scenarios, wide

LABELS = {"val": np.array([0, 1, 0, 1]), "test": np.array([0, 0, 1, 1, 0])}
# run -> (val predictions, clean predictions)
PREDICTIONS = {
    "base__seed=0": ([0, 1, 0, 1], [0, 0, 1, 1, 0]),  # val 1.00, clean 1.0
    "base__seed=1": ([0, 1, 0, 0], [0, 0, 1, 0, 0]),  # val 0.75, clean 0.8
    "lr=0.1__seed=0": ([0, 1, 0, 1], [1, 0, 1, 1, 1]),  # val 1.00, clean 0.6
    "lr=0.1__seed=1": ([1, 0, 1, 0], [0, 0, 0, 0, 0]),  # val 0.00, clean 0.6 (outside every Rashomon set)
}


@pytest.fixture
def study(tmp_path):
    rows, paths = [], []
    for run_id, (val, clean) in PREDICTIONS.items():
        path = tmp_path / run_id / "predictions" / "clean.npz"
        path.parent.mkdir(parents=True)
        np.savez(path, val=np.eye(2, dtype=np.float16)[val], clean=np.eye(2, dtype=np.float16)[clean])
        paths.append(path)
        for intervention, predicted in (("val", val), ("clean", clean)):
            labels = LABELS["val" if intervention == "val" else "test"]
            rows.append({"run_id": run_id, "family": "clean", "intervention": intervention, "n": len(labels),
                         "accuracy": float(np.mean(np.array(predicted) == labels)), "status": "completed"})
    runs = pd.DataFrame({"run_id": list(PREDICTIONS), "dimension": ["", "", "lr", "lr"]})
    store = PredictionStore(paths, {"val": "clean", "clean": "clean"}, LABELS)
    return pd.DataFrame(rows), runs, store


def test_scenarios_follow_the_dimensions(study):
    _, runs, _ = study
    assert scenarios(runs) == {
        "seed": ["base__seed=0", "base__seed=1"],
        "lr": ["base__seed=0", "base__seed=1", "lr=0.1__seed=0", "lr=0.1__seed=1"],
        "all": list(PREDICTIONS),
    }


def test_sheet_numbers_by_hand(study):
    metrics, runs, store = study
    sheet, membership = build_sheet(metrics, runs, store, {"epsilon": 0.3, "bootstrap": 0})
    # seed: both base runs (val 1.0 and 0.75, within 0.3); lr: base runs + lr=0.1__seed=0.
    members = membership[membership["member"]].groupby("scenario")["run_id"].apply(set)
    assert members["seed"] == {"base__seed=0", "base__seed=1"}
    assert members["lr"] == {"base__seed=0", "base__seed=1", "lr=0.1__seed=0"}
    spread = wide(sheet, "range")
    assert spread.loc["seed", "clean"] == pytest.approx(0.2)
    assert spread.loc["lr", "clean"] == pytest.approx(0.4)
    assert wide(sheet, "std").loc["lr", "clean"] == pytest.approx(np.std([1.0, 0.8, 0.6], ddof=1))
    # clean disagreement in lr: pairs (s0,s1) 1/5, (s0,lr) 2/5, (s1,lr) 3/5 -> mean 2/5
    assert wide(sheet, "disagreement").loc["lr", "clean"] == pytest.approx(0.4)
    # reference = best on val (ties broken by run id): base__seed=0; ambiguity: examples where any run differs
    assert wide(sheet, "ambiguity").loc["lr", "clean"] == pytest.approx(3 / 5)
    assert set(sheet["n"][sheet["intervention"] == "clean"]) == {5}


def test_single_run_scenario_has_zero_spread(study):
    metrics, runs, store = study
    sheet, _ = build_sheet(metrics, runs, store, {"epsilon": 0.0, "bootstrap": 0})
    assert wide(sheet, "range").loc["seed", "clean"] == 0.0
    assert np.isnan(wide(sheet, "disagreement").loc["seed", "clean"])
