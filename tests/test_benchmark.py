"""The throughput benchmark's scaled-down CPU run: every path works and the table is complete (no timing checks)."""

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_throughput.py"


@pytest.mark.slow
def test_smoke_run_writes_one_row_per_method(tmp_path):
    out = tmp_path / "t.csv"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_csv(out).set_index("method", drop=False)
    assert "s/model" in done.stdout and "models/hour" in done.stdout  # the printed table

    methods = list(table["method"])
    assert len(methods) == 4
    for prefix in ("ours fast", "ours standard", "naive"):
        (method,) = [name for name in methods if name.startswith(prefix)]
        result = table.loc[method]
        assert result["status"] == "ok"
        assert result["models"] == 2
        assert result["s_per_model"] > 0 and result["models_per_hour"] > 0
        assert 0 <= result["test_acc_mean"] <= 1 and math.isfinite(result["test_acc_std"])
        assert math.isnan(result["peak_gpu_mib"])  # CPU: no GPU memory
        # our trainer reports each model's time: the first pays one-off costs, the rest are the steady state
        assert (result["first_model_s"] > 0 and result["steady_s_per_model"] > 0) == prefix.startswith("ours")

    # On a CPU the airbench row says why it has no numbers. (find_spec: importing airbench would build its CIFAR-10
    # loader, and download CIFAR-10 into the working directory.)
    installed = importlib.util.find_spec("airbench") is not None
    assert table.loc["airbench94", "status"] == ("needs CUDA" if installed else "not installed")
    assert list(table["model"]) == ["fastnet", "airbench94", "cnn", "cnn"]
    assert list(table["epochs"]) == [1, 9.9, 1, 1]


EVAL_SCRIPT = SCRIPT.with_name("eval_throughput.py")


@pytest.mark.slow
def test_eval_smoke_run_times_every_family(tmp_path):
    out = tmp_path / "e.csv"
    done = subprocess.run(
        [sys.executable, str(EVAL_SCRIPT), "--smoke", "--out", str(out), "--train-models", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_csv(out).set_index("family")
    assert list(table.index) == ["clean", "corruption", "adversarial", "privacy"]
    assert (table["s_per_model"] > 0).all() and (table["models"] == 2).all()
    # 2 corruption types x severities 1 and 3 of the 500 test images; clean = the test split (as the sheets)
    assert table.loc["corruption", "interventions"] == 4 and table.loc["corruption", "images"] == 2000
    assert table.loc["corruption", "prepare_s"] > 0 and table.loc["clean", "images"] == 500
    assert "s per model" in done.stdout


AGGREGATION = SCRIPT.with_name("aggregation_scaling.py")


def _aggregation_modules():
    sys.path.insert(0, str(SCRIPT.parent))
    import aggregation_scaling
    import fabricate_study

    return aggregation_scaling, fabricate_study


def test_fabricated_metrics_are_evaluations_metrics():
    """The generator's float32 metric rows are evaluation's own (`evaluate.metric_row`), to float tolerance."""
    import numpy as np
    import torch

    from multisheets.interventions.evaluate import metric_row
    from multisheets.interventions.families import Prediction

    _, fabricate_study = _aggregation_modules()
    rng = np.random.default_rng(0)
    logits = (3 * rng.standard_normal((500, 10))).astype(np.float32)
    labels = rng.integers(0, 10, 500)
    ours = fabricate_study.metric_row("clean", logits, labels)
    theirs = metric_row(Prediction("clean", torch.from_numpy(logits), torch.from_numpy(labels)), 10)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert ours[key] == (value if isinstance(value, str) else pytest.approx(value, rel=1e-5, abs=1e-6)), key


def test_harness_times_every_aggregation_rule_of_the_workflow():
    """The harness's rules are the workflow's: the summary rules and every figure of rules/figures.smk."""
    import re

    aggregation_scaling, fabricate_study = _aggregation_modules()
    rules = Path(SCRIPT.parents[1] / "rules")
    figures = re.findall(r'^    "(\w+)": dict\(', (rules / "figures.smk").read_text(), re.M)
    plan = fabricate_study.StudyPlan(fabricate_study.study_config(11))
    jobs = aggregation_scaling.rule_jobs(plan)
    expected = ["collect_metrics", "multiplicity_sheet", "seed_population", "per_example_measures"] + figures
    assert [job["rule"] for job in jobs] == [rule for rule in expected if rule != "selection_effect"]
    sheet = next(job for job in jobs if job["rule"] == "multiplicity_sheet")
    assert len(sheet["input"]["predictions"]) == len(plan.runs) * len(plan.families)


@pytest.mark.slow
def test_aggregation_benchmark_runs_rules_on_a_tiny_study(tmp_path):
    """Fabricate 11 runs on 200 images and time three rules through the real scripts: the table is complete."""
    out = tmp_path / "a.csv"
    command = [sys.executable, str(AGGREGATION), "--runs", "11", "--n-test", "200", "--n-val", "100", "--out", str(out)]
    rules = ["collect_metrics", "multiplicity_sheet", "disagreement_matrix"]
    done = subprocess.run(
        [*command, "--rules", *rules, "--work", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_csv(out)
    assert list(table["rule"]) == rules and (table["status"] == "ok").all(), table.to_string()
    assert (table["runs"] == 11).all() and (table["cpu_s"] > 0).all() and (table["peak_rss_mb"] > 50).all()
    assert "| multiplicity_sheet |" in done.stdout
    assert not list(tmp_path.glob("aggregation-*"))  # the fabricated study is removed
