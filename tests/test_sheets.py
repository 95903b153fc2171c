from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from multisheets.sheets.findings import TOO_FEW, findings_table
from multisheets.sheets.predictions import PredictionStore, prediction_files
from multisheets.sheets.selection import parse_specifications
from multisheets.sheets.sheet import build_sheet, scenarios, wide
from multisheets.sheets.sheet_measures import TOO_FEW_RUNS
from multisheets.sheets.views import to_markdown

LABELS = {"val": np.array([0, 1, 0, 1]), "test": np.array([0, 0, 1, 1, 0])}
ECE_ON_VAL = {"base__seed=0": 0.2, "base__seed=1": 0.05, "lr=0.1__seed=0": 0.05, "lr=0.1__seed=1": 0.05}
# every key build_sheet reads (the workflow passes the whole `sheet` section, defaults filled in)
SETTINGS = {"epsilon": 0.3, "confidence": 0.95, "expected_range_k": 3, "instances": False, "epsilon_curve": [0.3]}
# run -> (val predictions, clean predictions)
PREDICTIONS = {
    "base__seed=0": ([0, 1, 0, 1], [0, 0, 1, 1, 0]),  # val 1.00, clean 1.0
    "base__seed=1": ([0, 1, 0, 0], [0, 0, 1, 0, 0]),  # val 0.75, clean 0.8
    "lr=0.1__seed=0": ([0, 1, 0, 1], [1, 0, 1, 1, 1]),  # val 1.00, clean 0.6
    "lr=0.1__seed=1": ([1, 0, 1, 0], [0, 0, 0, 0, 0]),  # val 0.00, clean 0.6 (outside every Rashomon set)
}


@pytest.fixture
def study(tmp_path):
    rows, files = [], {}
    for run_id, (val, clean) in PREDICTIONS.items():
        path = tmp_path / run_id / "predictions" / "test" / "clean.npz"
        path.parent.mkdir(parents=True)
        np.savez(path, clean=np.eye(2, dtype=np.float16)[clean])  # the sheet reads test-split predictions only
        files[run_id, "clean"] = path
        for split, predicted in (("val", val), ("test", clean)):
            labels = LABELS[split]
            rows.append(
                {
                    "run_id": run_id,
                    "family": "clean",
                    "intervention": "clean",
                    "split": split,
                    "n": len(labels),
                    "accuracy": float(np.mean(np.array(predicted) == labels)),
                    "ece": ECE_ON_VAL[run_id] if split == "val" else 0.5,
                    "status": "completed",
                    "metric": "accuracy",
                }
            )
    runs = pd.DataFrame({"run_id": list(PREDICTIONS), "dimension": ["", "", "lr", "lr"]})
    store = PredictionStore(files, {"clean": "clean"}, LABELS["test"])
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
    tables = build_sheet(metrics, runs, store, SETTINGS)
    sheet, rashomon_sets = tables.sheet, tables.rashomon_sets
    # seed: both base runs (val 1.0 and 0.75, within 0.3); lr: base runs + lr=0.1__seed=0.
    members = rashomon_sets[rashomon_sets["in_rashomon_set"]].groupby("scenario")["run_id"].apply(set)
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


def test_a_single_run_has_no_spread_not_a_zero_one(study):
    metrics, runs, store = study
    tables = build_sheet(metrics, runs, store, SETTINGS | {"epsilon": 0.0})
    sheet = tables.sheet
    seed = sheet[sheet["scenario"] == "seed"].set_index("measure")
    assert seed.loc["mean", "value"] == 1.0  # the one run's accuracy is still reported
    spreads = ["range", "std", "iqr", "between_run_std", "disagreement", "ambiguity", "discrepancy", "p_between_run"]
    assert seed.loc[spreads, "value"].isna().all()
    assert set(seed["note"]) == {TOO_FEW_RUNS}
    lr = sheet[sheet["scenario"] == "lr"]  # two runs tie at val 1.0: spreads are numbers, no note
    assert set(lr["note"]) == {""} and lr.set_index("measure").loc["range", "value"] == pytest.approx(0.4)
    markdown = to_markdown(tables, ("range",), 0.0, findings=findings_table(sheet, 0.95))
    assert f"`seed`, Rashomon set: {TOO_FEW_RUNS}" in markdown
    assert "| seed | 100.0 |" not in markdown and "| seed | 0.0 |" not in markdown  # blank, not 0
    findings = findings_table(sheet, 0.95).set_index(["scenario", "intervention", "selection"])
    assert findings.loc[("seed", "clean", "rashomon"), "verdict"] == TOO_FEW


def test_selection_sheet_epsilon_curves_and_flips(study):
    metrics, runs, store = study
    specs = parse_specifications([{"intervention": "clean", "keep": "top_fraction", "value": 0.5}])
    tables = build_sheet(metrics, runs, store, SETTINGS | {"epsilon_curve": [0.0, 1.0]}, specs)
    # Selection reads validation accuracy: the lr set's 1.0, 0.75, 1.0 -> top 50 % keeps ceil(1.5) = 2 runs, both
    # at 1.0 (base__seed=0, lr=0.1__seed=0), whose clean *test* accuracies are 1.0 and 0.6. Selecting on the test
    # split would have kept 1.0 and 0.8.
    steps = tables.selection_steps.set_index("scenario")
    assert steps.loc["lr", "n_before"] == 3 and steps.loc["lr", "n_after"] == 2
    assert steps.loc["lr", "split"] == "val"
    assert wide(tables.sheet, "range", "selected").loc["lr", "clean"] == pytest.approx(0.4)
    curves = tables.epsilon_curves.set_index(["scenario", "epsilon", "intervention"])
    assert curves.loc[("lr", 0.0, "clean"), "n_runs"] == 2  # two runs tie at val 1.0
    assert curves.loc[("lr", 1.0, "clean"), "n_runs"] == 4
    flips = tables.flip_rates[(tables.flip_rates["scenario"] == "lr") & (tables.flip_rates["intervention"] == "clean")]
    # lr set predictions per example: [0,0,1], [0,0,0], [1,1,1], [1,0,1], [0,0,1] -> flips 1,0,0,1,1
    assert flips.set_index("n_flipped")["fraction"].to_dict() == {0: 0.4, 1: 0.6, 2: 0.0}
    pairs = tables.disagreement.set_index(["intervention", "run_a", "run_b"])["disagreement"]
    assert pairs[("clean", "base__seed=0", "base__seed=1")] == pytest.approx(0.2)


def test_reference_after_selection_is_the_best_on_validation_survivor(study):
    metrics, runs, store = study
    # ECE on val <= 0.1 removes base__seed=0 (the Rashomon set's best); survivors in run order: base__seed=1
    # (val 0.75), lr=0.1__seed=0 (val 1.0), lr=0.1__seed=1 (val 0.0). The reference must be lr=0.1__seed=0.
    specs = parse_specifications([{"intervention": "clean", "metric": "ece", "keep": "at_most", "value": 0.1}])
    sheet = build_sheet(metrics, runs, store, SETTINGS | {"epsilon": 1.0}, specs).sheet
    # clean test predictions: base1 [0,0,1,0,0], lr0 [1,0,1,1,1], lr1 [0,0,0,0,0]; against lr0 the most
    # different run (lr1) differs on 4 of 5 examples; against base1 (the first survivor) it would be 3 of 5.
    assert wide(sheet, "discrepancy", "selected").loc["all", "clean"] == pytest.approx(0.8)


def test_sheet_reports_test_noise_and_its_null(study):
    metrics, runs, store = study
    sheet = build_sheet(metrics, runs, store, SETTINGS).sheet
    cells = sheet[
        (sheet["scenario"] == "lr") & (sheet["intervention"] == "clean") & (sheet["selection"] == "rashomon")
    ].set_index("measure")
    # the lr set's clean test correctness (base__seed=0, base__seed=1, lr=0.1__seed=0)
    correct = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 1], [0, 1, 1, 1, 0]], float)
    from multisheets.measures.uncertainty import normal_range_factor, sampling_noise_variance, variance_components

    tau2 = sampling_noise_variance(correct)
    assert cells.loc["test_noise_sd", "value"] == pytest.approx(np.sqrt(tau2))
    assert cells.loc["range_null", "value"] == pytest.approx(normal_range_factor(3) * np.sqrt(tau2))
    expected = variance_components(correct.mean(axis=1), tau2)
    assert cells.loc["p_between_run", "value"] == pytest.approx(expected.p_value)
    row = cells.loc["between_run_std"]
    assert (row["value"], row["ci_low"], row["ci_high"]) == pytest.approx(
        (expected.between_run_std, expected.between_run_std_low, expected.between_run_std_high)
    )
    assert cells.loc["expected_range", "ci_high"] == pytest.approx(expected.expected_range(3)[2])
    assert np.isnan(cells.loc["range", "ci_low"])  # the observed range is descriptive: no interval


def test_selection_names_a_missing_intervention(study):
    metrics, runs, store = study
    specs = parse_specifications([{"intervention": "fog", "keep": "at_least", "value": 0.5}])
    with pytest.raises(ValueError, match="'fog'"):
        build_sheet(metrics, runs, store, SETTINGS, specs)


def test_diverged_base_runs_stay_out_of_the_disagreement_matrix(study):
    metrics, runs, store = study
    metrics = metrics.copy()
    diverged = metrics["run_id"] == "base__seed=1"
    metrics.loc[diverged, ["accuracy", "status"]] = [np.nan, "diverged"]
    tables = build_sheet(metrics, runs, store, SETTINGS)
    assert set(tables.disagreement["run_a"]) == {"base__seed=0"}
    summary = tables.rashomon_sets[tables.rashomon_sets["scenario"] == "seed"].set_index("run_id")
    assert not summary.loc["base__seed=1", "in_rashomon_set"]


def test_summary_counts_each_image_once(tmp_path):
    """corruption_mean over two severities of the same 5 images: n is 5 and the test noise uses per-image means."""
    from multisheets.measures.uncertainty import sampling_noise_variance
    from multisheets.sheets.metrics_table import derived_metrics

    labels = LABELS["test"]
    predicted = {
        "a": ([0, 0, 1, 1, 0], [0, 1, 1, 1, 0]),
        "b": ([0, 0, 1, 0, 0], [1, 1, 1, 0, 0]),
        "c": ([1, 0, 1, 1, 1], [0, 0, 1, 1, 1]),
    }
    rows, files, correct = [], {}, []
    for run_id, severities in predicted.items():
        logits = {f"corruption=fog/severity={k}": np.eye(2, dtype=np.float16)[p] for k, p in zip((1, 3), severities)}
        path = tmp_path / run_id / "predictions" / "test" / "corruption.npz"
        path.parent.mkdir(parents=True)
        np.savez(path, **logits)
        files[run_id, "corruption"] = path
        correct.append([np.array(p) == labels for p in severities])
        rows.append(
            {
                "run_id": run_id,
                "family": "clean",
                "intervention": "clean",
                "split": "val",
                "n": 4,
                "accuracy": 0.9,
                "status": "completed",
                "metric": "accuracy",
            }
        )
        rows += [
            {
                "run_id": run_id,
                "family": "corruption",
                "intervention": name,
                "split": "test",
                "n": 5,
                "accuracy": float(np.mean(np.argmax(x, 1) == labels)),
                "status": "completed",
                "metric": "accuracy",
            }
            for name, x in logits.items()
        ]
    metrics = pd.DataFrame(rows)
    metrics = pd.concat([metrics.assign(derived=False), derived_metrics(metrics)], ignore_index=True)
    families = {name: "corruption" for name in metrics["intervention"] if name.startswith("corruption=fog/")}
    store = PredictionStore(files, families, labels)
    runs = pd.DataFrame({"run_id": list(predicted), "dimension": ""})
    sheet = build_sheet(metrics, runs, store, SETTINGS).sheet
    cells = sheet[(sheet["scenario"] == "seed") & (sheet["intervention"] == "corruption_mean")].set_index("measure")
    assert set(cells["n"]) == {5}
    per_image = np.array(correct, float).mean(axis=1)  # (runs, images): mean over the two severities
    assert cells.loc["test_noise_sd", "value"] == pytest.approx(np.sqrt(sampling_noise_variance(per_image)))
    summary = metrics[metrics["intervention"] == "corruption_mean"]
    assert set(summary["n"]) == {5} and set(summary["split"]) == {"test"}


def test_worst_group_is_each_runs_lowest_group_row():
    """Per run and split: the row of its lowest group (ties: the first group stored), a diverged run a NaN row."""
    from multisheets.sheets.metrics_table import derived_metrics

    accuracies = {"a": [0.5, 0.25, 0.75], "b": [0.5, 0.5, 0.25], "c": [np.nan] * 3}
    metrics = pd.DataFrame(
        [
            {
                "run_id": run_id,
                "family": "subgroups",
                "split": split,
                "intervention": f"group={group}",
                "n": n,
                "accuracy": accuracy,
                "loss": n / 10,
                "metric": "accuracy",
                "status": "diverged" if run_id == "c" else "completed",
            }
            for split in ("val", "test")
            for run_id, values in accuracies.items()
            for group, accuracy, n in zip(("old", "middle", "young"), values, (3, 4, 5))
        ]
    )
    worst = derived_metrics(metrics).query("intervention == 'worst_group'")
    test = worst[worst["split"] == "test"].set_index("run_id")
    assert list(test.index) == ["a", "b", "c"] and set(worst["family"]) == {"fairness"}
    assert list(test["worst_group"].iloc[:2]) == ["middle", "young"]
    assert list(test["accuracy"].iloc[:2]) == [0.25, 0.25] and list(test["loss"].iloc[:2]) == [0.4, 0.5]
    assert np.isnan(test.loc["c", "accuracy"]) and len(worst[worst["split"] == "val"]) == 3
    tied = metrics[metrics["run_id"] == "a"].assign(accuracy=0.5)
    assert set(derived_metrics(tied)["worst_group"]) == {"old"}


def test_specifications_that_would_read_test_images_are_refused():
    from multisheets.interventions.registry import family_of
    from multisheets.sheets.selection import check_specifications, selection_families

    families = ["clean", "corruption", "adversarial", "shift"]
    ok = parse_specifications(
        [
            {"intervention": "corruption_mean", "keep": "top_fraction", "value": 0.5},
            {"intervention": "clean", "metric": "ece", "keep": "at_most", "value": 0.1},
        ]
    )
    check_specifications(ok, families)
    assert selection_families(ok) == ["clean", "corruption"]  # only what selection reads is evaluated on val
    on_test = parse_specifications([{"intervention": "clean", "keep": "top_fraction", "value": 0.5, "split": "test"}])
    with pytest.raises(ValueError, match="for reporting only"):
        check_specifications(on_test, families)
    with pytest.raises(ValueError, match="no selection split"):
        check_specifications(
            parse_specifications([{"intervention": "shift=cifar10_1", "keep": "at_least", "value": 0.5}]), families
        )
    with pytest.raises(ValueError, match="'privacy' family"):
        check_specifications(
            parse_specifications([{"intervention": "mia_loss", "keep": "at_most", "value": 0.6}]), families
        )
    with pytest.raises(ValueError, match="metric 'acc' is not one of accuracy"):
        check_specifications(
            parse_specifications([{"intervention": "clean", "metric": "acc", "keep": "at_least", "value": 0.5}]),
            families,
        )
    with pytest.raises(ValueError, match="no intervention family produces 'fog'"):
        check_specifications(
            parse_specifications([{"intervention": "fog", "keep": "at_least", "value": 0.5}]), families
        )
    assert family_of("pgd_l2/eps=0.25") == "adversarial" and family_of("corruption=fog/severity=3") == "corruption"
    assert family_of("group=old") == family_of("worst_group") == "subgroups" and family_of("worst_class") == "clean"


def test_a_study_whose_runs_all_diverged_gets_a_sheet_that_says_so(tmp_path):
    """Evaluation records diverged runs as NaN rows without the usual metric columns; the sheet stage survives."""
    from multisheets.sheets.metrics_table import collect_metrics
    from multisheets.sheets.views import to_markdown

    paths = []
    for run_id in ("base__seed=0", "base__seed=1"):
        for split, family, names in (
            ("val", "clean", ["clean"]),
            ("test", "clean", ["clean"]),
            ("test", "corruption", ["corruption=fog/severity=1"]),
        ):
            path = tmp_path / run_id / split / f"{family}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(
                {
                    "run_id": run_id,
                    "family": family,
                    "split": split,
                    "intervention": names,
                    "n": 5,
                    "accuracy": np.nan,
                    "status": "diverged",
                }
            ).to_csv(path, index=False)
            paths.append(path)
    runs = pd.DataFrame(
        {"run_id": ["base__seed=0", "base__seed=1"], "setting": "base", "seed": [0, 1], "dimension": ""}
    )
    metrics = collect_metrics(paths, runs)
    assert metrics["accuracy"].isna().all() and "corruption_mean" in set(metrics["intervention"])
    store = PredictionStore({}, {"clean": "clean"}, LABELS["test"])
    tables = build_sheet(metrics, runs, store, SETTINGS)
    assert tables.sheet.empty and not tables.rashomon_sets["in_rashomon_set"].any()
    text = to_markdown(tables, ("range", "std", "disagreement"), 0.3)
    assert "No run is in any Rashomon set" in text and "| seed | 2 | 2 | 0 | 0 |" in text


def test_prediction_files_pair_each_file_with_its_run_and_family():
    runs = [{"run_id": "base__seed=0", "family": "clean"}, {"run_id": "base__seed=0", "family": "privacy"}]
    files = prediction_files(runs, ["a.npz", "b.npz"])  # no run id or family is read from a path
    assert files == {("base__seed=0", "clean"): Path("a.npz"), ("base__seed=0", "privacy"): Path("b.npz")}
    with pytest.raises(ValueError, match="2 .run, family. keys for 1"):
        prediction_files(runs, ["a.npz"])


@pytest.mark.parametrize(
    "written",
    [{"metric": ["accuracy", "attack_accuracy"]}, {"accuracy_kind": ["classifier", "attack"]}],
    ids=["metric", "before_rename"],
)
def test_metric_says_what_the_accuracy_column_holds(tmp_path, written):
    """Evaluation writes `metric`; metric files from before the rename called it `accuracy_kind`."""
    from multisheets.sheets.metrics_table import collect_metrics

    path = tmp_path / "metrics.csv"
    pd.DataFrame(
        {
            "run_id": "base__seed=0",
            "family": ["clean", "privacy"],
            "split": "test",
            "intervention": ["clean", "mia_loss"],
            "n": 10,
            "accuracy": [0.9, 0.6],
            "ece": [0.05, np.nan],
            "worst_class": [3, np.nan],
            "worst_class_accuracy": [0.7, np.nan],
            "worst_class_n": [2, np.nan],
            "best_class_accuracy": [1.0, np.nan],
            "status": "completed",
            **written,
        }
    ).to_csv(path, index=False)
    metrics = collect_metrics([path], pd.DataFrame({"run_id": ["base__seed=0"], "dimension": ""}))
    held = metrics.set_index("intervention")["metric"]
    assert held.to_dict() == {
        "clean": "accuracy",
        "mia_loss": "attack_accuracy",
        "worst_class": "accuracy",
        "ece": "ece",
    }
    assert "accuracy_kind" not in metrics and metrics.set_index("intervention").loc["ece", "accuracy"] == 0.05


def test_every_number_of_a_row_comes_from_the_same_predictions(tmp_path):
    # Full-precision logits [0.50, 0.5001] predict class 1; in float16 both are 0.5 and the argmax is class 0.
    # Evaluation stores the full-precision class as `clean#predicted`: accuracy, disagreement and test noise must
    # all read it (before, accuracy came from the metrics table and disagreement from the float16 argmax).
    labels = np.array([1, 1, 0, 0])
    logits = np.array([[0.5, 0.5001], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]], dtype=np.float16)
    files, rows = {}, []
    for run_id, predicted in (("base__seed=0", [1, 1, 0, 0]), ("base__seed=1", [0, 1, 0, 0])):
        path = tmp_path / f"{run_id}.npz"
        np.savez(path, clean=logits, **{"clean#predicted": np.array(predicted, dtype=np.int16)})
        files[run_id, "clean"] = path
        for split in ("val", "test"):
            accuracy = float(np.mean(np.array(predicted) == labels))
            rows.append(
                {"run_id": run_id, "family": "clean", "intervention": "clean", "split": split, "n": 4}
                | {"accuracy": accuracy, "ece": 0.1, "status": "completed", "metric": "accuracy"}
            )
    store = PredictionStore(files, {"clean": "clean"}, labels)
    assert store.predictions(["base__seed=0"], "clean").tolist() == [[1, 1, 0, 0]]
    runs = pd.DataFrame({"run_id": ["base__seed=0", "base__seed=1"], "dimension": ["", ""]})
    sheet = build_sheet(pd.DataFrame(rows), runs, store, SETTINGS | {"epsilon": 1.0}).sheet
    row = sheet[sheet["scenario"] == "seed"].set_index("measure")["value"]
    assert row["mean"] == pytest.approx(0.875) and row["range"] == pytest.approx(0.25)
    assert row["disagreement"] == pytest.approx(0.25)


def test_autoattack_columns_get_a_sheet_after_the_other_attacks(tmp_path):
    """AutoAttack on a part of the attacks' subset (its own #indices): filed under adversarial, its columns after
    PGD's and before the fairness summaries, its n the images it attacked, its accuracy from its own predictions."""
    from multisheets.interventions.registry import family_of
    from multisheets.sheets.metrics_table import collect_metrics
    from multisheets.sheets.sheet import sheet_interventions

    labels = LABELS["test"]
    everything, part = np.arange(5), np.array([1, 3, 4])
    # run -> (clean, pgd, autoattack) predictions; autoattack's are of the images at `part`
    predicted = {
        "base__seed=0": ([0, 0, 1, 1, 0], [0, 1, 1, 0, 0], [0, 0, 1]),
        "base__seed=1": ([0, 0, 1, 1, 1], [1, 0, 1, 1, 1], [0, 1, 0]),
        "base__seed=2": ([0, 0, 1, 0, 0], [0, 0, 0, 0, 0], [1, 0, 0]),
    }
    interventions = {"pgd_linf/eps=8/255": everything, "autoattack_linf/eps=8/255": part}
    paths, files = [], {}
    for run_id, (clean, *attacked) in predicted.items():
        arrays = {}
        for (name, index), values in zip(interventions.items(), attacked, strict=True):
            arrays |= {name: np.eye(2, dtype=np.float16)[values], f"{name}#indices": index}
            arrays[f"{name}#predicted"] = np.array(values, dtype=np.int16)
        np.savez(path := tmp_path / f"{run_id}-adversarial.npz", **arrays)
        files[run_id, "adversarial"] = path
        np.savez(path := tmp_path / f"{run_id}-clean.npz", clean=np.eye(2, dtype=np.float16)[clean])
        files[run_id, "clean"] = path
        rows = [("val", "clean", "clean", 4, 0.75), ("test", "clean", "clean", 5, np.mean(np.equal(clean, labels)))]
        for (name, index), values in zip(interventions.items(), attacked, strict=True):
            rows.append(("test", "adversarial", name, len(index), np.mean(np.equal(values, labels[index]))))
        table = pd.DataFrame(rows, columns=["split", "family", "intervention", "n", "accuracy"])
        per_class = {"worst_class_accuracy": 0.5, "best_class_accuracy": 1.0, "worst_class": 1, "worst_class_n": 2}
        table.assign(run_id=run_id, status="completed", metric="accuracy", ece=0.1, **per_class).to_csv(
            path := tmp_path / f"{run_id}.csv", index=False
        )
        paths.append(path)
    runs = pd.DataFrame({"run_id": list(predicted), "dimension": ""})
    metrics = collect_metrics(paths, runs)
    assert sheet_interventions(metrics, SETTINGS) == ["clean", *interventions, "worst_class", "ece"]
    families = {name: family_of(name) for name in ["clean", *interventions]}
    assert families["autoattack_linf/eps=8/255"] == "adversarial"
    sheet = build_sheet(metrics, runs, PredictionStore(files, families, labels), SETTINGS | {"epsilon": 1.0}).sheet
    cells = sheet[(sheet["scenario"] == "seed") & (sheet["intervention"] == "autoattack_linf/eps=8/255")]
    cells = cells.set_index("measure")
    assert set(cells["n"]) == {3} and set(cells["family"]) == {"adversarial"}
    assert cells.loc["mean", "value"] == pytest.approx(np.mean([1 / 3, 1, 1 / 3]))  # labels at `part`: 0, 1, 0
    assert list(wide(sheet, "mean").columns) == ["clean", *interventions, "worst_class", "ece"]
