import numpy as np
import pandas as pd
import pytest

from multisheets.selection import parse_specifications
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
                         "accuracy": float(np.mean(np.array(predicted) == labels)), "status": "completed",
                         "accuracy_kind": "classifier"})
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
    tables = build_sheet(metrics, runs, store, {"epsilon": 0.3, "bootstrap": 0})
    sheet, membership = tables.sheet, tables.membership
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
    sheet = build_sheet(metrics, runs, store, {"epsilon": 0.0, "bootstrap": 0}).sheet
    assert wide(sheet, "range").loc["seed", "clean"] == 0.0
    assert np.isnan(wide(sheet, "disagreement").loc["seed", "clean"])


def test_selection_sheet_epsilon_curves_and_flips(study):
    metrics, runs, store = study
    specs = parse_specifications([{"intervention": "clean", "keep": "top_fraction", "value": 0.5}])
    tables = build_sheet(metrics, runs, store, {"epsilon": 0.3, "bootstrap": 0, "epsilon_curve": [0.0, 1.0]}, specs)
    # lr Rashomon set: clean accuracies 1.0, 0.8, 0.6 -> top 50 % keeps ceil(1.5) = 2 runs: 1.0 and 0.8
    steps = tables.selection_steps.set_index("scenario")
    assert steps.loc["lr", "n_before"] == 3 and steps.loc["lr", "n_after"] == 2
    assert wide(tables.sheet, "range", "selected").loc["lr", "clean"] == pytest.approx(0.2)
    curves = tables.epsilon_curves.set_index(["scenario", "epsilon", "intervention"])
    assert curves.loc[("lr", 0.0, "clean"), "n_runs"] == 2  # two runs tie at val 1.0
    assert curves.loc[("lr", 1.0, "clean"), "n_runs"] == 4
    flips = tables.flip_rates[(tables.flip_rates["scenario"] == "lr") & (tables.flip_rates["intervention"] == "clean")]
    # lr set predictions per example: [0,0,1], [0,0,0], [1,1,1], [1,0,1], [0,0,1] -> flips 1,0,0,1,1
    assert flips.set_index("n_flipped")["fraction"].to_dict() == {0: 0.4, 1: 0.6, 2: 0.0}
    pairs = tables.disagreement.set_index(["intervention", "run_a", "run_b"])["disagreement"]
    assert pairs[("clean", "base__seed=0", "base__seed=1")] == pytest.approx(0.2)


def test_selection_names_a_missing_intervention(study):
    metrics, runs, store = study
    specs = parse_specifications([{"intervention": "fog", "keep": "at_least", "value": 0.5}])
    with pytest.raises(ValueError, match="'fog'"):
        build_sheet(metrics, runs, store, {"epsilon": 0.3, "bootstrap": 0}, specs)


def test_diverged_base_runs_stay_out_of_the_disagreement_matrix(study):
    metrics, runs, store = study
    metrics = metrics.copy()
    diverged = metrics["run_id"] == "base__seed=1"
    metrics.loc[diverged, ["accuracy", "status"]] = [np.nan, "diverged"]
    tables = build_sheet(metrics, runs, store, {"epsilon": 0.3, "bootstrap": 0})
    assert set(tables.disagreement["run_a"]) == {"base__seed=0"}
    summary = tables.membership[tables.membership["scenario"] == "seed"].set_index("run_id")
    assert not summary.loc["base__seed=1", "member"]
