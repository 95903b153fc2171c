"""A run is trained once, through the real `snakemake` command: growing a study, changing how it runs, and
interrupting it never retrain a finished run. Runs trained are counted as new entries in results/model_cache
(one per finished run, written before the next run starts)."""

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import torch
import yaml
from test_workflow import copy_workflow, snakemake

pytestmark = [pytest.mark.integration]


def study(**changes) -> dict:
    base = {
        "study": "resume",
        "data": {
            "source": "synthetic",
            "path": "",
            "val_size": 30,
            "synthetic": {"num_classes": 3, "image_size": 16, "train_per_class": 60, "test_per_class": 10},
        },
        "base": {"model": "cnn", "width": 4, "epochs": 1, "batch_size": 16, "lr": 0.05, "warmup_epochs": 0},
        "dimensions": {"lr": [0.02]},
        "seeds": [0, 1],
        "train": {"runs_per_job": 3},
        "runtime": {"device": "cpu"},
        "interventions": {"families": ["clean"]},
        "sheet": {"epsilon": 0.5},
    }
    for key, value in changes.items():
        base[key] = base.get(key, {}) | value if isinstance(value, dict) and key != "dimensions" else value
    return base


def write(workdir: Path, name: str, config: dict) -> str:
    (workdir / name).write_text(yaml.safe_dump(config))
    return name


def trained(workdir: Path) -> dict[str, tuple[int, int]]:
    """Cached models by name, with the inode and time that change if a model is written again."""
    return {
        path.name: (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in (workdir / "results/model_cache").glob("*.pt")
    }


def test_growing_a_study_or_changing_how_it_runs_trains_only_new_runs(tmp_path):
    workdir = copy_workflow(tmp_path)
    snakemake(workdir, "--cores", "2", "--configfile", write(workdir, "first.yaml", study()))
    first = trained(workdir)
    assert len(first) == 4
    evaluated = {path: path.stat().st_mtime_ns for path in (workdir / "results/runs").rglob("metrics/*/*.csv")}

    # One more seed, other job sizes, another device setting, determinism on: two new runs, nothing else.
    grown = study(seeds=[0, 1, 2], train={"runs_per_job": 2}, runtime={"device": "auto", "deterministic": True})
    snakemake(workdir, "--cores", "2", "--configfile", write(workdir, "grown.yaml", grown))
    after = trained(workdir)
    assert len(after) == 6 and {name: after[name] for name in first} == first
    assert {path: path.stat().st_mtime_ns for path in evaluated} == evaluated  # finished runs not re-evaluated
    dry = snakemake(workdir, "--cores", "2", "--configfile", "grown.yaml", "--dry-run")
    assert "Nothing to be done" in dry.stdout + dry.stderr

    # A changed hyperparameter is another model: only the runs it changes are trained.
    changed = study(seeds=[0, 1, 2], dimensions={"lr": [0.03]})
    snakemake(workdir, "--cores", "2", "--configfile", write(workdir, "changed.yaml", changed))
    final = trained(workdir)
    assert len(final) == 9 and {name: final[name] for name in after} == after


def descendants_alive(workdir: Path) -> list[psutil.Process]:
    """Job processes of this work directory (Snakemake runs a rule's script from .snakemake/scripts)."""
    alive = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(workdir) in part for part in process.info["cmdline"] or []):
            alive.append(process)
    return alive


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_job_resumes_with_only_its_unfinished_runs(tmp_path, signum):
    workdir = copy_workflow(tmp_path)
    # Six runs in one job, each a few seconds, so the job is stopped between its second and last run.
    slow = study(
        seeds=[0, 1, 2],
        train={"runs_per_job": 6},
        base={**study()["base"], "epochs": 8, "width": 8},
        data={**study()["data"], "synthetic": {**study()["data"]["synthetic"], "train_per_class": 400}},
    )
    name = write(workdir, "slow.yaml", slow)
    snakemake(workdir, "prepare_data", "--cores", "2", "--configfile", name)
    process = subprocess.Popen(
        ["snakemake", "--cores", "2", "--configfile", name],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Wait for the event itself (two runs in the model cache), however long a loaded machine takes: only the
        # study ending first stops the wait, and that is a failure of the test's design, reported as such.
        while len(trained(workdir)) < 2 and process.poll() is None:
            time.sleep(0.1)
        assert process.poll() is None, "the study finished before it could be interrupted"
        jobs = descendants_alive(workdir)
        os.kill(process.pid, signum)  # the snakemake process alone, as a batch system or `kill` would
        process.wait(timeout=600)
        # The jobs must stop by themselves (within their 1 s poll of the parent); the bound only keeps a job that
        # never stops from hanging the suite, and is far beyond what any load makes of a 1 s poll.
        _, still_running = psutil.wait_procs(jobs, timeout=600)
        assert not still_running and not descendants_alive(workdir), "a job went on after snakemake was stopped"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        for leftover in descendants_alive(workdir):
            leftover.kill()
    finished = trained(workdir)
    assert 2 <= len(finished) < 6

    if signum == signal.SIGKILL:  # a killed snakemake cannot remove its lock: the README says to unlock
        assert (workdir / ".snakemake/locks").is_dir() and any((workdir / ".snakemake/locks").iterdir())
        snakemake(workdir, "--unlock", "--configfile", name)
    snakemake(workdir, "--cores", "2", "--configfile", name)  # the same command as before
    after = trained(workdir)
    # Restored, not retrained: the same file (a retrained model is a new file). Snakemake touches a rerun job's
    # outputs, so their times may change.
    assert len(after) == 6 and {key: after[key][0] for key in finished} == {key: finished[key][0] for key in finished}
    logs = "".join(path.read_text() for path in (workdir / "logs/train").glob("*.log"))
    assert logs.count("restored from the model cache") >= len(finished)
    assert (workdir / "results/resume/sheets/sheet.md").exists()


def test_deterministic_training_does_not_depend_on_the_cores_given(tmp_path):
    weights = []
    for cores in ("1", "2"):
        (workdir := tmp_path / f"cores{cores}").mkdir()
        copy_workflow(workdir)
        name = write(
            workdir,
            "study.yaml",
            study(
                dimensions={}, seeds=[0], runtime={"device": "cpu", "deterministic": True}, resources={"cpu_threads": 2}
            ),
        )
        snakemake(workdir, "--cores", cores, "--configfile", name, "--until", "collect_metrics")
        (model,) = (workdir / "results/runs/base__seed=0").glob("model-*.pt")
        weights.append(torch.load(model, weights_only=True)["state_dict"])
        (log,) = (workdir / "results/runs/base__seed=0").glob("train_log-*.json")
        assert '"cpu_threads": "2"' in log.read_text()
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
