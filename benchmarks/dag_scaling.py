"""How long Snakemake takes to plan a study of R runs: a dry run of the default study (config.yaml) grown to R runs.

Each setting of the default study gets as many seeds as make at least R runs; nothing is trained or evaluated
(a dry run builds the whole DAG: every run's training, evaluation, the sheets and figures). Each size runs in a
fresh copy of the workflow, in its own `snakemake` process; the CPU seconds are that process's and its children's.

    .venv/bin/python benchmarks/dag_scaling.py --runs 100 1000 10000 --out docs/dag_scaling.csv
    .venv/bin/python benchmarks/dag_scaling.py --workflow /path/to/an/older/checkout   # the same, for another version
"""

from __future__ import annotations

import argparse
import copy
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd
import yaml

from multisheets.plan.schema import validate_study
from multisheets.study.runs import expand_study

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ["Snakefile", "config.yaml", "rules", "workflow", "profiles", "report", "envs", "config"]


def grown_study(workflow: Path, runs: int) -> tuple[dict, int]:
    """The default study with enough seeds for at least `runs` runs, and how many runs it has."""
    study = yaml.safe_load((workflow / "config.yaml").read_text())
    settings = len(expand_study(validated(study | {"seeds": [0]})))
    study["seeds"] = list(range(math.ceil(runs / settings)))
    return study, len(expand_study(validated(study)))


def validated(study: dict) -> dict:
    """The study as the Snakefile sees it: checked, with the schema's defaults filled in (in a copy)."""
    study = copy.deepcopy(study)
    validate_study(study)
    return study


def dry_run(workflow: Path, runs: int, snakemake: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="dag-scaling-") as tmp:
        work = Path(tmp)
        for name in WORKFLOW_FILES:
            source = workflow / name
            if source.exists():
                (shutil.copytree if source.is_dir() else shutil.copy)(source, work / name)
        study, total = grown_study(workflow, runs)
        (work / "grown.yaml").write_text(yaml.safe_dump(study))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [snakemake, "--dry-run", "--quiet", "rules", "--cores", "4", "--configfile", "grown.yaml"],
            cwd=work,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"dry run of {total} runs failed:\n{done.stderr[-3000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        jobs = jobs_planned(done.stdout + done.stderr)
        return {"runs": total, "jobs": jobs, "cpu_s": round(cpu, 1), "wall_s": round(wall, 1)}


def jobs_planned(output: str) -> int | None:
    """The `total` row of Snakemake's job-count table."""
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "total" and parts[1].isdigit():
            return int(parts[1])
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--workflow", type=Path, default=ROOT, help="the checkout whose Snakefile is planned")
    parser.add_argument("--snakemake", default=shutil.which("snakemake") or "snakemake")
    parser.add_argument("--out", type=Path, help="also write the rows as CSV")
    args = parser.parse_args(argv)
    rows = []
    for runs in args.runs:
        rows.append(dry_run(args.workflow.resolve(), runs, args.snakemake) | {"date": date.today().isoformat()})
        print(f"{rows[-1]['runs']:>6} runs: {rows[-1]['jobs']} jobs, {rows[-1]['cpu_s']} CPU-s", file=sys.stderr)
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
