"""GPU leases: every running job holds its own GPUs, a killed job's GPUs are free at once, and a job granted k GPUs
uses all k; checked with fake GPU numbers ($MULTISHEETS_GPUS) on a machine without any, through the real
`snakemake` command (a job then leases its GPU exactly as on a GPU machine, and trains on the CPU)."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from multisheets.infra import gpus
from multisheets.infra.gpus import lease_gpus, machine_gpus
from multisheets.infra.workers import shard, worker_gpus

FOUR = "0,1,2,3"


@pytest.fixture
def four_gpus(monkeypatch, tmp_path):
    monkeypatch.setenv(gpus.GPUS_ENV, FOUR)
    monkeypatch.setenv(gpus.LOCKS_ENV, str(tmp_path / "locks"))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return tmp_path / "locks"


def test_running_leases_never_share_a_gpu_and_a_released_one_is_free_again(four_gpus):
    held = [lease_gpus(1, holder=f"job{index}") for index in range(4)]
    assert sorted(gpu for lease in held for gpu in lease.gpus) == ["0", "1", "2", "3"]
    assert gpus._try_lock(four_gpus, FOUR.split(","), 1) is None  # a fifth job would wait
    held[2].release()
    fifth = lease_gpus(1, holder="job4")
    assert fifth.gpus == held[2].gpus
    for lease in [*held, fifth]:
        lease.release()
    pair = lease_gpus(2)
    assert len(set(pair.gpus)) == 2 and pair.scheduler == "locks"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ",".join(pair.gpus)  # CUDA sees only the leased GPUs
    pair.release()


HOLDER = """
import sys, time
from multisheets.infra.gpus import lease_gpus
lease = lease_gpus(1)
print(lease.gpus[0], flush=True)
time.sleep(600)
"""


def test_a_killed_job_frees_its_gpu_and_a_waiting_job_gets_it(four_gpus, monkeypatch):
    monkeypatch.setenv(gpus.GPUS_ENV, "3")  # one GPU: the second job must wait for the first
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "3"  # it holds GPU 3
        got = []
        waiter = threading.Thread(target=lambda: got.append(lease_gpus(1, holder="waiter")))
        waiter.start()
        assert got == []  # (not a timing check: the holder is alive, so the lease cannot have been granted)
        holder.send_signal(signal.SIGKILL)  # no clean-up code runs: the kernel drops the lock
        holder.wait()
        waiter.join(timeout=600)
        assert got and got[0].gpus == ["3"]
        got[0].release()
    finally:
        holder.kill()


def test_what_a_job_leases_depends_on_the_machine_and_the_study(four_gpus, monkeypatch):
    assert lease_gpus(0).gpus == []  # a CPU job asks for no GPU
    assert lease_gpus(1, device="cuda:1").scheduler == "none"  # a study that names its GPU keeps it
    assert lease_gpus(1, device="cpu").gpus == []
    with pytest.raises(RuntimeError, match="asks for 5 GPUs .* has 4"):
        lease_gpus(5)
    monkeypatch.setenv(gpus.GPUS_ENV, "")
    assert lease_gpus(1).scheduler == "none"  # no GPU here: the job runs on the CPU, as device auto says
    monkeypatch.delenv(gpus.GPUS_ENV)
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    granted = lease_gpus(2)
    assert granted.gpus == ["0", "1"] and granted.scheduler == "slurm"  # SLURM chose them; no locks
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,-1,3")
    assert machine_gpus() == ["2"]  # CUDA stops at the first invalid number


def test_workers_take_the_gpus_in_turn_and_share_the_runs():
    assert worker_gpus([], 4, 10) == [None]
    assert worker_gpus(["0", "1"], 1, 10) == ["0", "1"]
    assert worker_gpus(["0", "1"], 2, 10) == ["0", "1", "0", "1"]
    assert worker_gpus(["0", "1"], 2, 3) == ["0", "1", "0"]  # never more workers than runs
    parts = shard({"a": [1, 2, 3, 4, 5], "b": list("vwxyz"), "c": "same"}, ("a", "b"), 2)
    assert parts == [{"a": [1, 3, 5], "b": ["v", "x", "z"], "c": "same"}, {"a": [2, 4], "b": ["w", "y"], "c": "same"}]


LEASE_LINE = re.compile(r"^(\S+ \S+) INFO gpu lease: (?:GPU (\S+) \(of|released GPU (\S+))")


def lease_periods(log: Path) -> list[tuple[datetime, datetime, str]]:
    """(held from, held until, GPU) of each GPU a job's log says it leased."""
    started, periods = {}, []
    for line in log.read_text().splitlines():
        match = LEASE_LINE.match(line)
        if not match:
            continue
        when = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f")
        if match[2]:
            started.update({gpu: when for gpu in match[2].split(",")})
        else:
            periods += [(started.pop(gpu), when, gpu) for gpu in match[3].split(",")]
    assert not started, f"{log.name}: a lease was never released"
    return periods


def most_at_once(periods) -> int:
    events = sorted([(start, 1) for start, _, _ in periods] + [(end, -1) for _, end, _ in periods])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


@pytest.mark.integration
def test_four_jobs_run_at_once_on_four_gpus_and_a_two_gpu_job_uses_both(tmp_path):
    from test_resume import study
    from test_workflow import copy_workflow, snakemake

    (workdir := tmp_path / "work").mkdir()
    copy_workflow(workdir)
    one_each = study(
        study="gpus",
        seeds=[0, 1, 2, 3],
        dimensions={},
        train={"runs_per_job": 1},
        runtime={"device": "auto"},  # a GPU where the job holds one: here none is real, so the CPU
        resources={"gpu": 1, "cpus_per_gpu": 1},
    )
    (workdir / "gpus.yaml").write_text(yaml.safe_dump(one_each))
    env = {gpus.GPUS_ENV: FOUR, gpus.LOCKS_ENV: str(tmp_path / "locks")}
    snakemake(workdir, "--cores", "4", "--resources", "gpu=4", "--configfile", "gpus.yaml", env=env)

    periods = [period for log in (workdir / "logs/train").glob("*.log") for period in lease_periods(log)]
    assert len(periods) == 4 and {gpu for _, _, gpu in periods} == set(FOUR.split(","))
    assert most_at_once(periods) == 4  # all four training jobs ran at once
    for gpu in FOUR.split(","):
        mine = sorted((start, end) for start, end, held in periods if held == gpu)
        assert all(end <= start for (_, end), (start, _) in zip(mine, mine[1:]))  # one job at a time per GPU
    evaluations = [period for log in (workdir / "logs/evaluate").glob("*.log") for period in lease_periods(log)]
    assert len(evaluations) == len(list((workdir / "logs/evaluate").glob("*.log")))  # every evaluation leased one
    train_logs = [json.loads(path.read_text()) for path in (workdir / "results/runs").rglob("train_log-*.json")]
    assert sorted(log["gpu"] for log in train_logs) == ["0", "1", "2", "3"]  # each run's log names its GPU

    # A job granted two GPUs trains two of its runs at once, one on each (SLURM's `resources.gpu: 2`).
    two_each = one_each | {"study": "pairs", "seeds": [4, 5, 6, 7], "train": {"runs_per_job": 4}}
    two_each["resources"] = {"gpu": 2, "cpus_per_gpu": 1}
    (workdir / "pairs.yaml").write_text(yaml.safe_dump(two_each))
    snakemake(
        workdir,
        "--cores",
        "4",
        "--resources",
        "gpu=4",
        "--configfile",
        "pairs.yaml",
        "--until",
        "collect_metrics",
        env=env,
    )
    logs = [json.loads(path.read_text()) for path in (workdir / "results/runs").rglob("train_log-*.json")]
    used = sorted(log["gpu"] for log in logs if log["seed"] >= 4)
    assert len(used) == 4 and len(set(used)) == 2 and used.count(used[0]) == 2  # two runs on each of its GPUs
    (job_log,) = [
        path for path in (workdir / "logs/train").glob("*.log") if "seed=4" in path.name or "4-7" in path.name
    ]
    assert "2 workers on GPU" in job_log.read_text()
