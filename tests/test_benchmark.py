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
