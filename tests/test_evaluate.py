import numpy as np
import pandas as pd
import pytest
import torch

from multisheets.interventions.evaluate import evaluate_runs, metric_row
from multisheets.interventions.families import Prediction
from multisheets.study.runs import expand_study
from multisheets.train.loop import train_batch


def test_metric_row_on_hand_made_predictions():
    # 4 examples, 2 classes: predictions 0, 1, 1, 0 against labels 0, 1, 0, 0 -> 3 of 4 right.
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [0.0, 2.0], [2.0, 0.0]])
    labels = torch.tensor([0, 1, 0, 0])
    row = metric_row(Prediction("clean", logits, labels), num_classes=2)
    confidence = 1 / (1 + np.exp(-2.0))
    assert row["n"] == 4 and row["accuracy"] == pytest.approx(0.75)
    assert row["mean_confidence"] == pytest.approx(confidence)
    # every example falls in one confidence bin: ECE = |accuracy - confidence|
    assert row["ece"] == pytest.approx(abs(0.75 - confidence))
    assert row["loss"] == pytest.approx(np.mean([np.log1p(np.exp(-2.0))] * 3 + [np.log1p(np.exp(2.0))]))


@pytest.fixture(scope="module")
def trained(data_dir, cpu, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    runs = expand_study(
        {
            "base": {"model": "cnn", "width": 4, "epochs": 1, "batch_size": 32},
            "dimensions": {"lr": [1e12]},
            "seeds": [0],
        }
    )
    models = [str(out / run.run_id / "model.pt") for run in runs]
    train_batch(runs, data_dir, models, [str(out / run.run_id / "log.json") for run in runs], cpu, False)
    return out, runs, models


def test_evaluate_writes_float16_logits_and_tidy_metrics(trained, data_dir, cpu):
    out, runs, models = trained
    predictions = [str(out / run.run_id / "predictions" / "test" / "clean.npz") for run in runs]
    metrics = [str(out / run.run_id / "metrics" / "test" / "clean.csv") for run in runs]
    table = evaluate_runs("clean", models, data_dir, predictions, metrics, cpu)
    assert list(table.columns[:4]) == ["run_id", "family", "split", "intervention"]
    base = table[table["run_id"] == "base__seed=0"].set_index("intervention")
    assert base.loc["clean", "n"] == 80 and base.loc["clean", "split"] == "test"
    on_val = evaluate_runs(
        "clean", models[:1], data_dir, [str(out / "val.npz")], [str(out / "val.csv")], cpu, split="val"
    )
    assert on_val.loc[0, "split"] == "val" and on_val.loc[0, "n"] == 60  # the selection split's own images
    with np.load(predictions[0]) as archive:
        logits = dict(archive)
    assert logits["clean"].dtype == np.float16 and logits["clean"].shape == (80, 4)
    labels = np.load(data_dir / "test_labels.npy")
    accuracy = (logits["clean"].astype(np.float32).argmax(1) == labels).mean()
    assert accuracy == pytest.approx(base.loc["clean", "accuracy"], abs=1 / 80)
    diverged = pd.read_csv(metrics[1])
    assert (diverged["status"] == "diverged").all() and diverged["accuracy"].isna().all()


def test_unknown_family_is_named(trained, data_dir, cpu):
    with pytest.raises(ValueError, match="unknown intervention family 'fog'"):
        evaluate_runs("fog", [], data_dir, [], [], cpu)


def test_selection_metrics_are_columns_evaluation_writes(trained, data_dir, cpu):
    """Specifications are checked against selection.METRICS before any job: it must match what is written."""
    from multisheets.sheets.selection import METRICS

    out, runs, models = trained
    table = evaluate_runs("clean", models[:1], data_dir, [str(out / "m.npz")], [str(out / "m.csv")], cpu)
    numeric = {column for column in table.columns if table[column].dtype.kind == "f"}
    derived = {"class_gap", "classifier_accuracy"}  # the worst_class row's gap; membership's classifier accuracy
    assert numeric == set(METRICS) - derived


def test_keeping_predictions_only_stores_what_the_sheet_reads(trained, data_dir, cpu, tmp_path):
    """`keep: predictions` (a study that would not fit on disk) stores each intervention's predicted class and true
    class probability, not its logits; the metrics and the predictions the sheet reads are the same as with logits."""
    from multisheets.plan.identity import family_identity
    from multisheets.sheets.predictions import PredictionStore

    _, runs, models = trained
    full, light = (
        evaluate_runs(
            "clean",
            models,
            data_dir,
            [str(tmp_path / f"{keep}{i}.npz") for i in range(len(models))],
            [str(tmp_path / f"{keep}{i}.csv") for i in range(len(models))],
            cpu,
            settings={"keep": keep},
        )
        for keep in ("logits", "predictions")
    )
    pd.testing.assert_frame_equal(full, light)
    with np.load(tmp_path / "logits0.npz") as archive:
        logits = dict(archive)
    with np.load(tmp_path / "predictions0.npz") as archive:
        kept = dict(archive)
    assert sorted(kept) == ["clean#predicted", "clean#true_probability"]
    labels = np.load(data_dir / "test_labels.npy")
    probabilities = torch.tensor(logits["clean"].astype(np.float32)).softmax(1).numpy()
    np.testing.assert_allclose(kept["clean#true_probability"], probabilities[np.arange(len(labels)), labels], atol=2e-3)
    assert kept["clean#true_probability"].dtype == np.float16
    np.testing.assert_array_equal(kept["clean#predicted"], logits["clean#predicted"])
    with np.load(tmp_path / "predictions1.npz") as archive:  # the diverged run: nothing to keep, and it says so
        assert (archive["clean#predicted"] == -1).all() and np.isnan(archive["clean#true_probability"]).all()
    stores = [
        PredictionStore({("r", "clean"): tmp_path / f"{keep}0.npz"}, {"clean": "clean"}, labels)
        for keep in ("logits", "predictions")
    ]
    np.testing.assert_array_equal(stores[0].predictions(["r"], "clean"), stores[1].predictions(["r"], "clean"))
    # Added after the first evaluation keys: at its default it is in no key, so no existing run is re-evaluated.
    assert family_identity("corruption", {"seed": 0, "keep": "logits"}) == {"seed": 0}
    assert family_identity("corruption", {"seed": 0, "keep": "predictions"}) != {"seed": 0}
