"""A job's runs spread over its GPUs: one worker process per GPU (or several per GPU), each on its share of the runs.

The runs of a training or evaluation job are independent models, so a job granted k GPUs trains or evaluates k of
them at once, one per GPU, without any distributed training; with `resources.runs_per_gpu: m` it puts m runs on
each GPU at once, for models that leave most of a large GPU idle. A job with one worker runs in its own process,
as before. A worker is `python -m <module> <spec.json>`, so that it picks its GPU before CUDA starts, and each of
its finished runs is written (and cached) before its next one starts, like a single-process job's.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)


def worker_gpus(gpus: list[str], runs_per_gpu: int, runs: int) -> list[str | None]:
    """The GPU of each worker of a job with `runs` runs to do: GPUs in turn, `runs_per_gpu` workers each, never more
    workers than runs. A job without GPUs has one worker (None: the CPU)."""
    if not gpus:
        return [None]
    slots = [gpu for _ in range(max(1, runs_per_gpu)) for gpu in gpus]
    return slots[: max(1, min(len(slots), runs))]


def shard(spec: dict[str, Any], keys: tuple[str, ...], workers: int) -> list[dict[str, Any]]:
    """`workers` copies of `spec`, the lists under `keys` (parallel lists, one entry per run) dealt out in turn."""
    return [spec | {key: spec[key][index::workers] for key in keys} for index in range(workers)]


def run_job(job: ModuleType, spec: dict[str, Any], gpus: list[str], runs_per_gpu: int) -> None:
    """Do a job's runs: `job.run(spec)` in this process with one worker, else one worker process per slot
    (`python -m <job>`). `job` is a module with `run(spec)` and `PER_RUN`, the names of the spec's lists that hold
    one entry per run (`model_paths` among them).

    `spec` says what to do (JSON); `log` names the job's log file (None: the terminal). Each worker gets its share, its
    GPU as `spec["gpu"]` and `spec["threads"]` split evenly. A failed worker does not stop the others (their
    finished runs are kept); the job fails after all have ended, naming the runs not done.
    """
    keys = job.PER_RUN
    slots = worker_gpus(gpus, runs_per_gpu, len(spec[keys[0]]))
    if len(slots) == 1:
        job.run(spec | {"gpu": slots[0]})
        return
    threads = max(1, int(spec.get("threads") or 1) // len(slots))
    log.info("%d workers on GPU %s, %d CPU thread(s) each", len(slots), ",".join(map(str, slots)), threads)
    with tempfile.TemporaryDirectory(prefix="multisheets-job-") as folder:
        processes = []
        for index, (part, gpu) in enumerate(zip(shard(spec, keys, len(slots)), slots, strict=True)):
            path = Path(folder) / f"worker{index}.json"
            path.write_text(json.dumps(part | {"gpu": gpu, "threads": threads}))
            environment = os.environ | {"CUDA_VISIBLE_DEVICES": str(gpu)}
            processes.append((part, subprocess.Popen([sys.executable, "-m", job.__name__, str(path)], env=environment)))
        failed = [part for part, process in processes if process.wait() != 0]
    if failed:
        runs = [Path(path).parent.name for part in failed for path in part["model_paths"]]  # results/runs/<run>/
        raise RuntimeError(f"{len(failed)} of {len(slots)} workers failed (runs {', '.join(runs)}); see the log")


def worker_main(run) -> None:
    """A worker process: `run(spec)` with the spec file named on the command line."""
    from multisheets.infra.interrupts import exit_with_parent
    from multisheets.infra.logs import log_to_file

    spec = json.loads(Path(sys.argv[1]).read_text())
    log_to_file(spec.get("log"), append=True)  # the job's log, after the job's own lines
    exit_with_parent()  # a worker whose job is gone stops too
    run(spec)
