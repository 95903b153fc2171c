"""profiles/slurm on a real SLURM cluster: munged, slurmctld and slurmd started on this machine in a temp dir.

A tiny CPU study runs through the profile while the test cancels a training job (scancel), requeues an evaluation
job (what preemption with PreemptMode=REQUEUE does) and finally kills snakemake itself; after the recovery steps
the README gives, the study's tables must equal those of a local run, and one more invocation must submit
nothing. A GPU variant checks that GPU jobs reach the GPU partition with their GPU request and CPU jobs do not.

Needs root (slurmd starts the jobs, SlurmUser=root) and installs slurm-wlm and munge with apt-get when missing;
skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_slurm import REPO, TWO_RUNS, WORKFLOW_ITEMS, profile_partitions, run_snakemake

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLURM_PROGRAMS = ["munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "scancel", "scontrol", "sinfo"]

STUDY = TWO_RUNS | {
    "study": "slurm-real",
    # one run per job: two training jobs, one of which the test cancels
    "train": {"runs_per_job": 1},
    "runtime": {"device": "cpu"},
    # one thread, as the local reference run's jobs get: CPU training is bit-identical only for equal counts
    "resources": {
        "cpu_threads": 1,
        "train_runtime": 10,
        "train_mem_mb": 1000,
        "evaluate_runtime": 10,
        "evaluate_mem_mb": 1000,
    },
}

# Status checks start 5 s after a submission and then come every 15, 25, ... s (the plugin adds 10 s per check
# without a finished job); the jobs here take 10-20 s, so most are seen finished at the second check.
SLURM_ARGS = ["--workflow-profile", "profiles/slurm", "--slurm-init-seconds-before-status-checks", "5"]
ACTIVE_STATES = "PENDING,RUNNING,COMPLETING,CONFIGURING,REQUEUED,RESIZING,SUSPENDED"


def copy_workflow(target: Path, study: dict) -> Path:
    target.mkdir(parents=True)
    for name in WORKFLOW_ITEMS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            shutil.copy2(source, target / name)
    (target / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def install_slurm() -> str | None:
    """None when SLURM and munge are usable here, else why not (the reason the tests are skipped)."""
    if all(shutil.which(program) for program in SLURM_PROGRAMS):
        return None
    if shutil.which("apt-get") is None:
        return "slurm-wlm/munge are not installed and there is no apt-get to install them"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt_get(*args):
        try:
            return subprocess.run(["apt-get", *args], env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired as error:
            return subprocess.CompletedProcess(error.cmd, 1, "", f"timed out after {error.timeout} s")

    install = ["install", "-y", "-q", "--no-install-recommends", "slurm-wlm", "munge"]
    result = apt_get(*install)
    if result.returncode != 0:  # perhaps stale package lists: refresh them once
        apt_get("update", "-q")
        result = apt_get(*install)
    if result.returncode != 0:
        return f"apt-get could not install slurm-wlm and munge:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
    missing = [program for program in SLURM_PROGRAMS if not shutil.which(program)]
    return f"installed slurm-wlm and munge, but {missing} are still missing" if missing else None


@dataclass
class Cluster:
    env: dict
    logs: Path
    cpu_partition: str
    gpu_partition: str

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed: {result.stdout}{result.stderr}")
        return result

    def jobs(self, *options: str) -> list[dict]:
        """Jobs slurmctld knows of (finished ones for MinJobAge = 300 s); comment = rule_<rule name>."""
        fields = ["id", "state", "comment", "name", "partition", "cpus"]
        lines = self.run("squeue", "--noheader", "--format=%i|%T|%k|%j|%P|%C", *options).stdout.splitlines()
        return [dict(zip(fields, line.split("|"))) for line in lines if line.strip()]

    def show_job(self, job_id: str) -> str:
        return self.run("scontrol", "show", "job", job_id).stdout

    def log_tail(self) -> str:
        return "".join(f"\n--- {path.name} ---\n{path.read_text()[-3000:]}" for path in sorted(self.logs.glob("*")))


def wait_for(condition, timeout: float, what: str, cluster: Cluster | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (cluster.log_tail() if cluster else ""))


def wait_for_quietly(condition, timeout: float) -> None:
    try:
        wait_for(condition, timeout, "")
    except AssertionError:
        pass


def stop(process: subprocess.Popen) -> None:
    """End a daemon this test started, by its PID: SIGTERM, then SIGKILL if it does not exit."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("a real SLURM cluster needs root: slurmd starts the jobs and SlurmUser is root")
    reason = install_slurm()
    if reason:
        pytest.skip(reason)

    root = tmp_path_factory.mktemp("slurm")
    logs, bin_dir = root / "log", root / "bin"
    for folder in (logs, bin_dir, root / "state", root / "spool"):
        folder.mkdir()
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    host = socket.gethostname().split(".")[0]
    cpu_partition, gpu_partition = profile_partitions()
    meminfo = Path("/proc/meminfo").read_text()
    memory_mb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1)) // 1024
    conf = root / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=multisheets-test",
                f"SlurmctldHost={host}(127.0.0.1)",
                f"SlurmctldPort={free_port()}",
                f"SlurmdPort={free_port()}",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={root / 'munge.socket'}",
                "SlurmUser=root",
                "SlurmdUser=root",
                f"StateSaveLocation={root / 'state'}",
                f"SlurmdSpoolDir={root / 'spool'}",
                f"SlurmctldPidFile={root / 'slurmctld.pid'}",
                f"SlurmdPidFile={root / 'slurmd.pid'}",
                f"SlurmctldLogFile={logs / 'slurmctld.log'}",
                f"SlurmdLogFile={logs / 'slurmd.log'}",
                # no cgroups: the jobs are ordinary processes of this machine
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none",
                # no slurmdbd, so no sacct: the profile's status command, squeue, is what works here
                "AccountingStorageType=accounting_storage/none",
                "MpiDefault=none",
                "ReturnToService=2",
                # cons_tres: what --gpus and --cpus-per-gpu need; memory is scheduled like on a real cluster
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "GresTypes=gpu",
                # The node below may claim more than the hardware (nothing is enforced without cgroups): at least
                # 2 CPUs, which prepare_data and corrupt_split ask for, and memory for the profile's 4 GB jobs.
                "SlurmdParameters=config_overrides",
                f"NodeName={host} NodeAddr=127.0.0.1 CPUs={max(2, os.cpu_count() or 1)} "
                f"RealMemory={max(memory_mb, 16000)} Gres=gpu:1 State=UNKNOWN",
                f"PartitionName={cpu_partition} Nodes={host} Default=YES MaxTime=INFINITE State=UP",
                f"PartitionName={gpu_partition} Nodes={host} MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    # a GPU that only exists for the scheduler: GPU jobs are placed and counted, the code runs on the CPU
    (root / "gres.conf").write_text(f"NodeName={host} Name=gpu File=/dev/null\n")
    # The jobstep plugin strips SLURM_* variables, SLURM_CONF included, before it calls srun inside a job; a
    # real cluster's srun reads /etc/slurm/slurm.conf, this one's config lives here, so srun is told again.
    srun = bin_dir / "srun"
    srun.write_text(f'#!/bin/sh\nSLURM_CONF="{conf}" exec "{shutil.which("srun")}" "$@"\n')
    srun.chmod(0o755)

    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLURM_", "SNAKEMAKE_"))}
    env |= {"SLURM_CONF": str(conf), "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}
    state = Cluster(env=env, logs=logs, cpu_partition=cpu_partition, gpu_partition=gpu_partition)

    daemons = []

    def start(name, *command):
        output = open(logs / f"{name}.out", "w")
        daemons.append(
            subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        )
        output.close()

    try:
        start(
            "munged",
            "munged",
            "--foreground",
            "--force",
            f"--key-file={key}",
            f"--socket={root / 'munge.socket'}",
            f"--pid-file={root / 'munged.pid'}",
            f"--seed-file={root / 'munged.seed'}",
            f"--log-file={logs / 'munged.log'}",
        )
        wait_for(lambda: (root / "munge.socket").exists(), 30, "munged", state)
        start("slurmctld", "slurmctld", "-D", "-i")
        wait_for(lambda: "UP" in state.run("scontrol", "ping", check=False).stdout, 60, "slurmctld", state)
        start("slurmd", "slurmd", "-D", "-N", host)
        wait_for(
            lambda: state.run("sinfo", "--noheader", "--format=%T", check=False).stdout.split()[:1] == ["idle"],
            60,
            "the node to become idle",
            state,
        )
        yield state
    finally:
        if len(daemons) == 3:
            # jobs a failed test left behind, in this private cluster only
            ids = state.run("squeue", "--noheader", "--format=%i", check=False).stdout.split()
            if ids:
                state.run("scancel", *ids, check=False)
                wait_for_quietly(lambda: not state.jobs("--states", ACTIVE_STATES), 30)
        for process in reversed(daemons):
            stop(process)


def slurm_run_id(output: str) -> str | None:
    """The plugin's id of one snakemake invocation: the SLURM job name of all the jobs it submits."""
    found = re.search(r"SLURM run ID: (\S+)", output)
    return found and found.group(1)


def read_tables(workdir: Path) -> dict[str, pd.DataFrame]:
    """Every parquet table of the finished study: results/<study>/tables/ and the sheet in results/<study>/sheets/."""
    folder = workdir / "results" / STUDY["study"]
    return {path.name: pd.read_parquet(path) for path in sorted(folder.glob("*/*.parquet"))}


def test_study_survives_cancel_requeue_and_killed_snakemake(cluster, tmp_path):
    local = copy_workflow(tmp_path / "local", STUDY)
    code, output = run_snakemake(["--cores", "2", "--configfile", "study.yaml"], local, cluster.env, timeout=300)
    assert code == 0, f"the local reference run failed (exit {code}):\n{output}"

    work = copy_workflow(tmp_path / "slurm", STUDY)
    args = [*SLURM_ARGS, "--configfile", "study.yaml"]
    log_path = tmp_path / "slurm_run1.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [shutil.which("snakemake", path=cluster.env["PATH"]), *args],
            cwd=work,
            env=cluster.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    run_id = cancelled = requeued = killed = None
    release = set()  # requeued jobs to make eligible again (SLURM holds a requeued job back for 2 minutes)
    deadline = time.monotonic() + 400
    try:
        while process.poll() is None and time.monotonic() < deadline and not killed:
            time.sleep(0.5)
            run_id = run_id or slurm_run_id(log_path.read_text())
            for job in cluster.jobs(f"--name={run_id}", "--states=all") if run_id else []:
                rule, running = job["comment"], job["state"] == "RUNNING"
                if cancelled is None and running and rule.startswith("rule_train_"):
                    cluster.run("scancel", job["id"])
                    cancelled = job
                elif requeued is None and running and rule.startswith("rule_evaluate_"):
                    cluster.run("scontrol", "requeue", job["id"])
                    requeued = job
                    release.add(job["id"])
                elif job["id"] in release and job["state"] == "PENDING":
                    cluster.run("scontrol", "update", f"JobId={job['id']}", "StartTime=now")
                    release.discard(job["id"])
                elif cancelled and requeued and running and rule == "rule_sheet_heatmap":
                    # a lost login session: snakemake dies, its SLURM jobs do not
                    os.killpg(process.pid, signal.SIGKILL)
                    killed = job
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    first = log_path.read_text()
    report = f"\n--- first SLURM run (exit {process.returncode}) ---\n{first[-6000:]}"
    assert cancelled and requeued and killed, (
        f"the run did not reach every interruption: cancelled={cancelled} requeued={requeued} killed={killed}"
        + report
        + cluster.log_tail()
    )

    # the cancelled training job was seen as failed and submitted again (profile: squeue status, retries: 1)
    assert f"SLURM-job '{cancelled['id']}' failed, SLURM status is: 'CANCELLED'" in first, report
    rule = cancelled["comment"].removeprefix("rule_")
    submitted = re.findall(rf"^rule {rule}:$", first, re.M)
    assert len(submitted) == 2, f"{rule} was not resubmitted after scancel" + report
    # the requeued evaluation job ran twice under one id and snakemake waited for it instead of failing it
    details = cluster.show_job(requeued["id"])
    assert "Restarts=1" in details and "JobState=COMPLETED" in details, details
    rule = requeued["comment"].removeprefix("rule_")
    submitted = re.findall(rf"^rule {rule}:$", first, re.M)
    assert len(submitted) == 1, f"{rule} was submitted again after a requeue" + report

    # every job went to the CPU partition; training and evaluation with resources.cpu_threads CPUs
    jobs = cluster.jobs(f"--name={run_id}", "--states=all")
    assert {job["partition"] for job in jobs} == {cluster.cpu_partition}, jobs
    threads = {job["cpus"] for job in jobs if job["comment"].startswith(("rule_train_", "rule_evaluate_"))}
    assert threads == {str(STUDY["resources"]["cpu_threads"])}, jobs

    # Recovery as the README says: cancel the killed run's jobs, --unlock, rerun the same command.
    cluster.run("scancel", f"--name={run_id}")
    wait_for(lambda: not cluster.jobs(f"--name={run_id}", "--states", ACTIVE_STATES), 60, "scancel", cluster)
    code, output = run_snakemake(args, work, cluster.env, timeout=120)
    assert code != 0 and "--unlock" in output, f"a rerun without --unlock should be refused:\n{output}"
    code, output = run_snakemake([*args, "--unlock"], work, cluster.env, timeout=120)
    assert code == 0, output
    code, second = run_snakemake(args, work, cluster.env, timeout=400)
    assert code == 0, f"the rerun after --unlock failed (exit {code}):\n{second}" + cluster.log_tail()
    assert re.search(r"^rule sheet_heatmap:$", second, re.M), f"the rerun did not redo the cancelled job:\n{second}"

    expected, actual = read_tables(local), read_tables(work)
    assert set(actual) == set(expected) and "metrics.parquet" in expected and "sheet.parquet" in expected
    for name, table in expected.items():
        pd.testing.assert_frame_equal(actual[name], table, check_exact=True, obj=name)

    code, third = run_snakemake(args, work, cluster.env, timeout=120)
    assert code == 0 and "Nothing to be done" in third, third
    submitted = cluster.jobs(f"--name={slurm_run_id(third)}", "--states=all")
    assert not submitted, f"the third invocation submitted jobs:\n{third}"


def test_gpu_jobs_go_to_the_gpu_partition_and_cpu_jobs_do_not(cluster, tmp_path):
    study = STUDY | {
        "study": "slurm-real-gpu",
        # the scheduler's GPU is fake: torch finds none and trains on the CPU
        "train": {"runs_per_job": 1},
        "runtime": {"device": "auto"},
        "resources": STUDY["resources"] | {"gpu": 1, "cpus_per_gpu": 1},
    }
    work = copy_workflow(tmp_path / "gpu", study)
    code, rules = run_snakemake(["--list-rules", "--configfile", "study.yaml"], work, cluster.env, 120)
    target = min(rule for rule in rules.split() if rule.startswith("train_"))  # one training job and its data
    code, output = run_snakemake([target, *SLURM_ARGS, "--configfile", "study.yaml"], work, cluster.env, 300)
    assert code == 0, f"the GPU study's training job failed (exit {code}):\n{output}" + cluster.log_tail()

    jobs = {job["comment"]: job for job in cluster.jobs(f"--name={slurm_run_id(output)}", "--states=all")}
    assert set(jobs) == {"rule_prepare_data", f"rule_{target}"}, jobs
    assert jobs["rule_prepare_data"]["partition"] == cluster.cpu_partition, jobs
    train = jobs[f"rule_{target}"]
    assert train["partition"] == cluster.gpu_partition and train["state"] == "COMPLETED", jobs
    details = cluster.show_job(train["id"])
    # one GPU (resources.gpu) with one CPU per GPU (resources.cpus_per_gpu), not a --cpus-per-task request
    assert "TresPerJob=gres:gpu:1" in details and "CpusPerTres=gres:gpu:1" in details, details
