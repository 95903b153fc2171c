"""SLURM profile without a cluster: fake sbatch/squeue/sacct/... on PATH record what the executor submits.

The data stage is produced locally first, so the first jobs the SLURM run submits are training jobs.
The fake sbatch accepts every job and the fake sacct/squeue report it FAILED at the first status check, so
snakemake stops within seconds; the test then checks the sbatch arguments of the training job, for a GPU study
and for a CPU study. tests/test_slurm_real.py runs the profile on a real SLURM cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_ITEMS = ["Snakefile", "rules", "workflow", "profiles", "report", "config", "envs", "config.yaml"]
SLURM_COMMANDS = ["sbatch", "squeue", "sacct", "scancel", "sinfo", "scontrol", "sacctmgr", "sshare"]

GPUS, CPUS_PER_GPU, CPU_THREADS, TRAIN_RUNTIME, TRAIN_MEM_MB = 1, 4, 3, 90, 12000

# Two runs of a tiny CNN on a tiny synthetic set: every rule runs, each job in seconds (shared with test_slurm_real).
TWO_RUNS = {
    "data": {
        "source": "synthetic",
        "path": "",
        "val_size": 6,
        "synthetic": {"num_classes": 3, "image_size": 16, "train_per_class": 6, "test_per_class": 3, "seed": 0},
    },
    "base": {"model": "cnn", "width": 4, "epochs": 1, "batch_size": 8, "warmup_epochs": 0},
    "dimensions": {"lr": [0.05]},
    "seeds": [0],
    "sheet": {"epsilon": 0.01},
}

TINY_STUDY = TWO_RUNS | {
    "study": "slurm-fake",
    "runtime": {"device": "auto"},
    "resources": {
        "gpu": GPUS,
        "gpu_model": "h100",
        "cpus_per_gpu": CPUS_PER_GPU,
        "cpu_threads": CPU_THREADS,
        "train_runtime": TRAIN_RUNTIME,
        "train_mem_mb": TRAIN_MEM_MB,
    },
}

# One script serves every SLURM command (dispatching on the name it is called by). Each call is appended
# to calls.jsonl; sbatch hands out increasing job ids, sacct/squeue report every submitted job FAILED.
FAKE_SLURM = """\
import fcntl, json, os, sys
from pathlib import Path

state = Path(os.environ["FAKE_SLURM_DIR"])
command, args = Path(sys.argv[0]).name, sys.argv[1:]
stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()

with open(state / "calls.jsonl", "a+") as log:
    fcntl.flock(log, fcntl.LOCK_EX)
    log.seek(0)
    calls = [json.loads(line) for line in log if line.strip()]
    job_ids = [call["job_id"] for call in calls if call.get("job_id")]
    record = {"command": command, "argv": args, "stdin": stdin}
    if command == "sbatch":
        record["job_id"] = str(max(map(int, job_ids), default=4000) + 1)
        job_ids.append(record["job_id"])
    log.write(json.dumps(record) + "\\n")

if command == "sbatch":  # --parsable: "<jobid>" (or "<jobid>;<cluster>")
    print(record["job_id"])
elif command == "sacct" and any(a.startswith("--format=JobIdRaw") for a in args):
    print("\\n".join(f"{job_id}|FAILED" for job_id in job_ids))
elif command == "squeue":
    print("\\n".join(f"{job_id}|FAILED" for job_id in job_ids))
elif command == "sinfo":
    print("PARTITION\\ngpu*")
elif command == "scontrol" and args[:2] == ["show", "config"]:
    print("MaxArraySize            = 1001\\nMinJobAge               = 300 sec")
# everything else (account look-ups, failure reasons, scancel) succeeds with no output
"""


def run_snakemake(args, cwd, env, timeout):
    """Run snakemake in its own process group; on timeout kill that group. Returns (returncode, output)."""
    process = subprocess.Popen(
        [shutil.which("snakemake", path=env["PATH"]), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        output += f"\n[test] snakemake killed after {timeout} s"
    return process.returncode, output


def option_values(argv, long, short=None):
    """Values of an sbatch option in any spelling: `--long=v`, `--long v`, `-s v`, `-sv`."""
    values = []
    for index, arg in enumerate(argv):
        following = argv[index + 1] if index + 1 < len(argv) else None
        if arg == long or (short and arg == short):
            values.append(following)
        elif arg.startswith(long + "="):
            values.append(arg[len(long) + 1 :])
        elif short and arg.startswith(short) and not arg.startswith("--") and len(arg) > len(short):
            values.append(arg[len(short) :])
    return values


def slurm_minutes(value):
    """A SLURM time limit (`M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`) in minutes."""
    days, _, clock = value.rpartition("-") if "-" in value else ("0", "", value)
    parts = [int(part) for part in clock.split(":")]
    if "-" in value:
        hours, minutes, seconds = (parts + [0, 0])[:3]
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    else:
        hours, (minutes, seconds) = 0, (parts + [0])[:2]
    return int(days) * 24 * 60 + hours * 60 + minutes + seconds / 60


def profile_partitions():
    """(CPU partition, GPU partition) of the profile's partitions.yaml, from which the plugin picks per job."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert "slurm_partition" not in (profile.get("default-resources") or {}), (
        "a default slurm_partition would override the per-job choice from partitions.yaml"
    )
    partitions = yaml.safe_load((REPO / "profiles" / "slurm" / profile["slurm-partition-config"]).read_text())
    cpu = [name for name, limits in partitions["partitions"].items() if not limits.get("max_gpu")]
    gpu = [name for name, limits in partitions["partitions"].items() if limits.get("max_gpu")]
    assert len(cpu) == 1 and len(gpu) == 1, f"expected one CPU and one GPU partition: {partitions}"
    return cpu[0], gpu[0]


@pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake is not on PATH")
@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_slurm_profile_submits_training_with_plugin_resources(tmp_path, device):
    work = tmp_path / "workflow"
    work.mkdir()
    for name in WORKFLOW_ITEMS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            shutil.copy2(source, work / name)
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(TINY_STUDY | {"runtime": {"device": device}}, sort_keys=False))

    base_env = {key: value for key, value in os.environ.items() if not key.startswith(("SLURM_", "SNAKEMAKE_"))}

    # 1. the data stage, locally (the workflow's default profile), so training jobs are the first ready jobs
    code, local_output = run_snakemake(
        ["prepare_data", "--cores", "1", "--configfile", str(study)], work, base_env, timeout=120
    )
    assert code == 0 and list((work / "results/data").glob("*/dataset.json")), (
        f"local data stage failed (exit {code}):\n{local_output}"
    )

    # 2. the SLURM run against fake SLURM commands
    state = tmp_path / "fake_slurm"
    bin_dir = tmp_path / "bin"
    state.mkdir()
    bin_dir.mkdir()
    script = bin_dir / "fake_slurm.py"
    script.write_text(f"#!{sys.executable}\n" + textwrap.dedent(FAKE_SLURM))
    script.chmod(0o755)
    for command in SLURM_COMMANDS:
        (bin_dir / command).symlink_to(script.name)
    env = {**base_env, "PATH": f"{bin_dir}{os.pathsep}{base_env.get('PATH', '')}", "FAKE_SLURM_DIR": str(state)}

    code, slurm_output = run_snakemake(
        [
            "--workflow-profile",
            "profiles/slurm",
            "--configfile",
            str(study),
            # the plugin waits 40 s before its first status check by default
            "--slurm-init-seconds-before-status-checks",
            "1",
        ],
        work,
        env,
        timeout=45,
    )

    calls_file = state / "calls.jsonl"
    calls = [json.loads(line) for line in calls_file.read_text().splitlines()] if calls_file.exists() else []
    submissions = [call for call in calls if call["command"] == "sbatch"]
    report = (
        "\n--- fake SLURM calls ---\n"
        + "\n".join(f"{c['command']} {' '.join(c['argv'])}" for c in calls)
        + f"\n--- snakemake (exit {code}) ---\n{slurm_output}"
    )

    train = [s for s in submissions if any(v.startswith("rule_train_") for v in option_values(s["argv"], "--comment"))]
    assert train, "no training job was submitted with sbatch" + report
    other = [s for s in submissions if s not in train]
    assert not any("rule_prepare_data" in " ".join(s["argv"]) for s in other), (
        "the data stage was resubmitted although it was produced locally" + report
    )

    cpu_partition, gpu_partition = profile_partitions()
    for submission in train:
        argv = submission["argv"]
        problems = []

        gpus, gres = option_values(argv, "--gpus", "-G"), option_values(argv, "--gres")
        cpus_per_gpu = option_values(argv, "--cpus-per-gpu")
        cpus_per_task = option_values(argv, "--cpus-per-task", "-c")
        if device == "cpu":  # a CPU study: resources.cpu_threads CPUs, no GPU, the CPU partition
            expected_partition = cpu_partition
            if gpus or gres or cpus_per_gpu:
                problems.append(f"a CPU job asks for GPUs: --gpus {gpus} --gres {gres} --cpus-per-gpu {cpus_per_gpu}")
            if cpus_per_task != [str(CPU_THREADS)]:
                problems.append(f"expected --cpus-per-task={CPU_THREADS} (resources.cpu_threads), got {cpus_per_task}")
        else:
            expected_partition = gpu_partition
            if gpus != [f"h100:{GPUS}"]:
                problems.append(f"expected one --gpus=h100:{GPUS}, got {gpus}")
            if gres:
                problems.append(f"expected no --gres (GPUs come from the `gpu` resource), got {gres}")
            if cpus_per_gpu != [str(CPUS_PER_GPU)]:
                problems.append(f"expected --cpus-per-gpu={CPUS_PER_GPU}, got {cpus_per_gpu}")
            if cpus_per_task:
                problems.append(f"unexpected --cpus-per-task {cpus_per_task}")
        times = option_values(argv, "--time", "-t")
        if len(times) != 1 or slurm_minutes(times[0]) != TRAIN_RUNTIME:
            problems.append(f"expected a time limit of {TRAIN_RUNTIME} minutes, got {times}")
        if option_values(argv, "--mem") != [str(TRAIN_MEM_MB)]:
            problems.append(f"expected --mem {TRAIN_MEM_MB}, got {option_values(argv, '--mem')}")
        partitions = option_values(argv, "--partition", "-p")
        if partitions != [expected_partition]:
            problems.append(f"expected partition {expected_partition!r} from partitions.yaml, got {partitions}")

        assert not problems, (
            "sbatch arguments of the training job are wrong:\n  " + "\n  ".join(problems) + f"\nargv: {argv}" + report
        )
