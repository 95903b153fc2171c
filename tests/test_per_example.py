"""The per-example stage on a small study written to disk: which sets and interventions, summaries, labels."""

import numpy as np
import pandas as pd
import pytest

from multisheets.measures import per_example as arb
from multisheets.measures.population import mean_pairwise_disagreement
from multisheets.measures.probabilities import softmax, vote_counts
from multisheets.sheets.metrics_table import derived_metrics, intervention_families
from multisheets.sheets.per_example import build_per_example, reported_interventions, run_sets
from multisheets.sheets.predictions import PredictionStore

N, CLASSES = 8, 3
RUNS = ["base__seed=0", "base__seed=1", "base__seed=2", "lr=0.1__seed=0", "lr=9__seed=0"]  # the last diverged
FOG = ["corruption=fog/severity=1", "corruption=fog/severity=3"]
PGD = "pgd_linf/eps=1/255"
SETTINGS = {
    "instances": False,
    "seed": 0,
    "ensemble_sizes": [1, 2, 8],
    "abstention_thresholds": [0.0, 0.6, 1.0],
    "arbitrary_self_consistency": 0.5,
    "capacity_tolerance": 1e-6,
    "capacity_max_iterations": 2000,
}
TEST_LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1])
PGD_INDICES = np.array([1, 4, 6])


@pytest.fixture
def study(tmp_path):
    rng = np.random.default_rng(0)
    logits, logit_files, rows = {}, {}, []
    for run in RUNS:
        diverged = run.startswith("lr=9")
        files = {
            "clean": {"clean": (N,)},
            "corruption": {name: (N,) for name in FOG},
            "adversarial": {PGD: (3,)},
            "privacy": {"mia_loss": (4,)},
        }
        for family, interventions in files.items():
            arrays = {}
            for name, (n,) in interventions.items():
                values = np.full((n, CLASSES), np.nan) if diverged else rng.normal(scale=2.0, size=(n, CLASSES))
                arrays[name] = logits[run, name] = values.astype(np.float16)
                accuracy = np.nan if diverged else float(np.mean(values.argmax(1) == labels_of(name)))
                rows.append(
                    {
                        "run_id": run,
                        "family": family,
                        "intervention": name,
                        "split": "test",
                        "n": n,
                        "accuracy": accuracy,
                        "status": "diverged" if diverged else "completed",
                        "metric": np.nan if diverged else ("attack_accuracy" if family == "privacy" else "accuracy"),
                    }
                )
            if family == "adversarial":
                arrays[f"{PGD}#indices"] = PGD_INDICES
            if family == "privacy":
                arrays["mia_loss#labels"] = np.array([0, 1, 1, 0])
            path = tmp_path / run / "predictions" / "test" / f"{family}.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, **arrays)
            logit_files[run, family] = path
    metrics = pd.DataFrame(rows)
    metrics = pd.concat([metrics.assign(derived=False), derived_metrics(metrics)], ignore_index=True)
    rashomon_sets = pd.DataFrame(
        [
            {"scenario": "seed", "run_id": run, "in_rashomon_set": True, "selected": run != "base__seed=1"}
            for run in RUNS[:3]
        ]
        + [
            {
                "scenario": "lr",
                "run_id": run,
                "in_rashomon_set": run != "lr=9__seed=0",
                "selected": run == "lr=0.1__seed=0",
            }
            for run in RUNS
        ]
    )
    families = intervention_families(metrics[~metrics["derived"]]).to_dict()
    return metrics, rashomon_sets, PredictionStore(logit_files, families, TEST_LABELS), logits


def labels_of(name):
    return TEST_LABELS[PGD_INDICES] if name == PGD else (np.array([0, 1, 1, 0]) if name == "mia_loss" else TEST_LABELS)


def table_value(table, **where):
    rows = table
    for column, value in where.items():
        rows = rows[rows[column] == value]
    assert len(rows) == 1, where
    return rows["value"].iloc[0]


def test_sets_are_the_reported_rashomon_sets_and_survivors(study):
    _, rashomon_sets, _, _ = study
    assert run_sets(rashomon_sets, with_selection=False) == [
        ("seed", "rashomon", tuple(RUNS[:3])),
        ("lr", "rashomon", tuple(RUNS[:4])),
    ]
    assert run_sets(rashomon_sets, with_selection=True) == [
        ("seed", "rashomon", tuple(RUNS[:3])),
        ("seed", "selected", ("base__seed=0", "base__seed=2")),
        ("lr", "rashomon", tuple(RUNS[:4])),
        ("lr", "selected", ("lr=0.1__seed=0",)),
    ]


def test_interventions_are_the_sheet_columns_that_score_the_classifier(study):
    metrics, _, _, _ = study
    assert list(reported_interventions(metrics, SETTINGS)) == ["clean", "corruption_mean", "corruption=fog", PGD]
    with_instances = reported_interventions(metrics, SETTINGS | {"instances": True})
    assert set(FOG) <= set(with_instances) and "mia_loss" not in with_instances


def test_summaries_count_every_corrupted_copy_as_one_example(study):
    metrics, rashomon_sets, reader, logits = study
    tables = build_per_example(metrics, rashomon_sets, reader, SETTINGS, with_selection=True)
    runs = RUNS[:4]
    stacked = np.concatenate([np.stack([logits[run, name] for run in runs]) for name in FOG], axis=1)  # (R, 2N, C)
    labels = np.concatenate([TEST_LABELS, TEST_LABELS])
    probs = softmax(stacked, np.float64)
    counts = vote_counts(stacked.astype(np.float32).argmax(axis=2), CLASSES)
    consistency = arb.self_consistency(counts)
    capacity, _ = arb.rashomon_capacity(probs, tolerance=1e-6, max_iterations=2000)
    plurality = arb.plurality_class(counts, probs.mean(axis=0))
    expected = {
        "rashomon_capacity": capacity.mean(),
        "viable_range_true": arb.viable_prediction_range(probs, labels).mean(),
        "viable_range_predicted": arb.viable_prediction_range(probs, plurality).mean(),
        "self_consistency": consistency.mean(),
        "arbitrary": (consistency <= 0.5).mean(),
    }
    key = {"scenario": "lr", "selection": "rashomon", "intervention": "corruption=fog"}
    for measure, value in expected.items():
        assert table_value(tables.measures, **key, measure=measure) == pytest.approx(value, rel=1e-5)
    fog = tables.measures[(tables.measures["intervention"] == "corruption=fog")]
    assert set(fog["n_examples"]) == {2 * N} and set(fog.loc[fog["scenario"] == "lr", "n_runs"]) == {4, 1}
    covered = arb.agreement(counts) >= 0.6
    assert table_value(tables.abstention, **key, threshold=0.6, measure="coverage") == pytest.approx(covered.mean())
    assert table_value(tables.abstention, **key, threshold=0.6, measure="selective_accuracy") == pytest.approx(
        (plurality == labels)[covered].mean()
    )
    churn = mean_pairwise_disagreement(stacked.astype(np.float32).argmax(axis=2))
    assert table_value(tables.ensembles, **key, ensemble_size=1, measure="churn") == pytest.approx(churn)
    ecdf = tables.ecdf[
        (tables.ecdf["intervention"] == "corruption=fog")
        & (tables.ecdf["scenario"] == "lr")
        & (tables.ecdf["selection"] == "rashomon")
        & (tables.ecdf["measure"] == "self_consistency")
    ]
    assert ecdf["share_at_most"].tolist() == pytest.approx([(consistency <= t).mean() for t in ecdf["threshold"]])


def test_attacks_score_their_subset_and_clean_matches_the_sheet_disagreement(study):
    metrics, rashomon_sets, reader, logits = study
    tables = build_per_example(metrics, rashomon_sets, reader, SETTINGS, with_selection=False)
    runs = RUNS[:3]
    probs = softmax(np.stack([logits[run, PGD] for run in runs]), np.float64)
    key = {"scenario": "seed", "selection": "rashomon"}
    assert table_value(tables.measures, **key, intervention=PGD, measure="viable_range_true") == pytest.approx(
        arb.viable_prediction_range(probs, TEST_LABELS[PGD_INDICES]).mean(), rel=1e-5
    )
    preds = np.stack([logits[run, "clean"] for run in runs]).astype(np.float32).argmax(axis=2)
    assert 1 - table_value(tables.measures, **key, intervention="clean", measure="self_consistency") == pytest.approx(
        mean_pairwise_disagreement(preds)
    )
    assert "selected" not in set(tables.measures["selection"])


def test_every_ensemble_size_has_a_row_even_where_none_fits(study):
    metrics, rashomon_sets, reader, _ = study
    tables = build_per_example(metrics, rashomon_sets, reader, SETTINGS, with_selection=True)
    rows = tables.ensembles[(tables.ensembles["intervention"] == "clean") & (tables.ensembles["measure"] == "churn")]
    sizes = rows.set_index(["scenario", "selection", "ensemble_size"])["n_ensembles"]
    assert sizes["lr", "rashomon", 1] == 4 and sizes["lr", "rashomon", 2] == 2 and sizes["lr", "rashomon", 8] == 0
    assert sizes["lr", "selected", 1] == 1
    assert np.isnan(rows.set_index(["scenario", "selection", "ensemble_size"])["value"]["lr", "selected", 1])


def test_single_run_set_has_capacity_one_and_no_consistency(study):
    metrics, rashomon_sets, reader, _ = study
    measures = build_per_example(metrics, rashomon_sets, reader, SETTINGS, with_selection=True).measures
    single = measures[(measures["scenario"] == "lr") & (measures["selection"] == "selected")].set_index(
        ["intervention", "measure"]
    )["value"]
    assert single["clean", "rashomon_capacity"] == 1.0 and single["clean", "viable_range_true"] == 0.0
    assert np.isnan(single["clean", "self_consistency"]) and np.isnan(single["clean", "arbitrary"])


def test_runs_evaluated_on_different_examples_are_refused(study, tmp_path):
    metrics, rashomon_sets, reader, logits = study
    path = reader.paths["base__seed=1", "adversarial"]
    np.savez(path, **{PGD: logits["base__seed=1", PGD], f"{PGD}#indices": np.array([0, 4, 6])})
    with pytest.raises(ValueError, match="different examples"):
        build_per_example(metrics, rashomon_sets, reader, SETTINGS, with_selection=False)


def test_attacks_get_per_example_measures_but_no_remedies(study):
    metrics, rashomon_sets, reader, _ = study
    tables = build_per_example(metrics, rashomon_sets, reader, SETTINGS, with_selection=False)
    assert PGD in set(tables.measures["intervention"]) and PGD in set(tables.ecdf["intervention"])
    assert PGD not in set(tables.ensembles["intervention"]) and PGD not in set(tables.abstention["intervention"])
    assert "clean" in set(tables.ensembles["intervention"]) and "corruption_mean" in set(
        tables.abstention["intervention"]
    )


def test_no_run_in_any_set_gives_empty_tables_with_their_columns(study):
    metrics, rashomon_sets, reader, _ = study
    tables = build_per_example(
        metrics, rashomon_sets.assign(in_rashomon_set=False, selected=False), reader, SETTINGS, True
    )
    assert tables.measures.empty and list(tables.ensembles.columns)[-4:] == [
        "ensemble_size",
        "n_ensembles",
        "measure",
        "value",
    ]


def test_figures_have_a_row_per_scenario_and_say_when_there_is_nothing_to_plot(study):
    from multisheets.figures.per_example import abstention_tradeoff, ensemble_sizes, per_example_distributions

    metrics, rashomon_sets, reader, _ = study
    tables = build_per_example(metrics, rashomon_sets, reader, SETTINGS, with_selection=True)
    families = metrics.drop_duplicates("intervention").set_index("intervention")["family"]
    panels = {
        per_example_distributions: (tables.ecdf, 4),
        ensemble_sizes: (tables.ensembles, 3),
        abstention_tradeoff: (tables.abstention, 3),
    }
    for plot, (table, columns) in panels.items():
        figure = plot(table, families, "t")
        assert len(figure.axes) == 2 * columns  # scenarios seed and lr; the selected runs are not drawn
        assert all(axis.get_lines() for axis in figure.axes)
        empty = plot(table.iloc[:0], families, "t")
        assert len(empty.axes) == 1 and "No run is in any Rashomon set" in empty.axes[0].texts[0].get_text()


def test_threads_give_the_same_tally_bit_for_bit(monkeypatch):
    """Chunks tallied in a thread pool are added in chunk order: the sums equal one thread's exactly."""
    from multisheets.sheets import per_example as sheet

    rng = np.random.default_rng(3)
    runs, n = 6, 97
    logits = rng.normal(scale=3.0, size=(runs, n, CLASSES)).astype(np.float16)
    labels = rng.integers(0, CLASSES, n)
    options = sheet.options_from({**SETTINGS, "ensemble_sizes": [1, 2, 3]})
    monkeypatch.setattr(sheet, "TALLY_CELLS", runs * CLASSES * 10)  # 10 chunks of 10 examples, one of 7

    def leaves(tree, key=()):
        for name, value in tree.items():
            yield from leaves(value, key + (name,)) if isinstance(value, dict) else [(key + (name,), value)]

    one = dict(leaves(sheet.tally(logits, labels, options, threads=1)))
    many = dict(leaves(sheet.tally(logits, labels, options, threads=3)))
    assert one.keys() == many.keys()
    for key, value in one.items():
        np.testing.assert_array_equal(many[key], value, err_msg=str(key))


def test_corruptions_kept_without_logits_are_left_out_and_the_rest_is_unchanged(study):
    """`interventions.corruption.keep: predictions`: nothing here can be computed without each class's probability,
    so the corruption columns are left out of the per-example tables; every other column is as with logits."""
    metrics, rashomon_sets, reader, logits = study
    full = build_per_example(metrics, rashomon_sets, reader, SETTINGS, with_selection=True)
    for run in RUNS:
        path = reader.paths[run, "corruption"]
        predicted = {f"{name}#predicted": logits[run, name].astype(np.float32).argmax(1) for name in FOG}
        np.savez(path, **predicted)
    light = build_per_example(metrics, rashomon_sets, reader, SETTINGS, with_selection=True)
    for name in ("measures", "ensembles", "abstention"):
        before, after = getattr(full, name), getattr(light, name)
        assert not after["intervention"].str.startswith("corruption").any()
        kept = before[~before["intervention"].str.startswith("corruption")].reset_index(drop=True)
        pd.testing.assert_frame_equal(kept, after.reset_index(drop=True))
