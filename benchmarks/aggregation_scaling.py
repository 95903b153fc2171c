#!/usr/bin/env python
"""How the aggregation rules scale with the number of runs R: CPU seconds, wall seconds and peak memory of each.

For each R it fabricates a study's per-run outputs (`fabricate_study`: config.yaml's families and dimensions, N =
10,000 test / 5,000 val images, 10 classes, in the exact files evaluation writes; no training) in a temporary
folder, then runs every aggregation rule in the order Snakemake would: collect_metrics, multiplicity_sheet,
seed_population, per_example_measures and each figure rule. Each rule is its real `workflow/scripts/<rule>.py`,
executed in its own process with a stand-in `snakemake` object whose input, output, params and log are what the rule
in rules/*.smk gives it (computed with the same helpers), from the study's folder as working directory. The
process's own resource usage (`os.wait4`) gives CPU seconds (user + system) and peak RSS.

    python benchmarks/aggregation_scaling.py --runs 20 100 400 1000 --out docs/aggregation_scaling.csv
    python benchmarks/aggregation_scaling.py --quick          # R = 11 at N = 1,000: a minute
    python benchmarks/aggregation_scaling.py --repo /tmp/old  # another checkout's scripts (set PYTHONPATH too)
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fabricate_study import StudyPlan, fabricate, study_config  # noqa: E402

from multisheets.infra.digest import digest  # noqa: E402
from multisheets.plan import paths  # noqa: E402
from multisheets.plan.identity import SHEET_SETTINGS, manifest_name  # noqa: E402
from multisheets.sheets.sheet_measures import wide_measures  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class Namedlist(list):
    """Snakemake's input/output/params/log: a flat list of its values, each also an attribute by its name."""

    def __init__(self, named: dict | None = None, values: list | None = None):
        super().__init__(values or [])
        for name, value in (named or {}).items():
            self.extend(value if isinstance(value, list) else [value])
            setattr(self, name, value)


def rule_jobs(plan: StudyPlan) -> list[dict]:
    """Each aggregation rule's input, output, params and log, as rules/{sheets,per_example,figures}.smk make them."""
    config, study = plan.config, plan.config["study"]

    def result(path):
        return paths.result(study, path)

    def manifest(step, content):
        return paths.manifest_file(study, manifest_name(step, content))

    def sheet_settings(step):
        return {name: config["sheet"][name] for name in SHEET_SETTINGS[step]}

    def job(rule, input, output, params, script=None, threads=1):
        output = output | {"manifest": manifest(rule, params["manifest"])}
        log = [f"logs/{study}/{'figures/' if script else ''}{rule}.log"]
        return dict(
            rule=rule, input=input, output=output, params=params, log=log, script=script or rule, threads=threads
        )

    metric_files = [plan.metrics_file(*evaluation) for evaluation in plan.evaluations()]
    predictions = plan.sheet_predictions()
    collect = dict(runs=plan.run_records, metrics=digest(metric_files))
    sheet = dict(
        sheet=sheet_settings("multiplicity_sheet"),
        selection=config["selection"],
        seed_streams=config["seed_streams"],
        predictions=digest(predictions),
    )
    seed_population = dict(sheet=sheet_settings("seed_population"), predictions=digest(predictions))
    per_example = dict(
        sheet=sheet_settings("per_example_measures"),
        with_selection=bool(config["selection"]),
        predictions=digest(predictions),
    )
    tables = {
        name: result(path)
        for name, path in {
            "metrics": "tables/metrics.parquet",
            "runs": "tables/runs.csv",
            "sheet": "sheets/sheet.parquet",
            "findings": "sheets/findings.csv",
            "rashomon": "tables/rashomon.csv",
            "prediction_files": "tables/prediction_files.csv",
            "selection": "tables/selection_steps.csv",
            "epsilon_curves": "tables/epsilon_curves.parquet",
            "disagreement": "tables/disagreement_base_seeds.parquet",
            "ecdf": "tables/per_example_ecdf.parquet",
            "ensembles": "tables/ensembles.parquet",
            "abstention": "tables/abstention.parquet",
            "convergence": "tables/seed_convergence.csv",
            "gde": "tables/gde.csv",
        }.items()
    }
    jobs = [
        job(
            "collect_metrics",
            {"metrics": metric_files},
            {"parquet": tables["metrics"], "csv": result("tables/metrics.csv"), "runs": tables["runs"]},
            {"runs": plan.run_records, "manifest": collect},
        ),
        job(
            "multiplicity_sheet",
            {
                "metrics": tables["metrics"],
                "runs": tables["runs"],
                "predictions": predictions,
                "test_labels": plan.data_file("test_labels.npy"),
            },
            {
                "sheet": tables["sheet"],
                "csv": result("sheets/sheet.csv"),
                "rashomon": tables["rashomon"],
                "prediction_files": tables["prediction_files"],
                "selection": tables["selection"],
                "epsilon_curves": tables["epsilon_curves"],
                "flip_rates": result("tables/flip_rates.parquet"),
                "disagreement": tables["disagreement"],
                "wide": [result(f"sheets/sheet_{measure}.csv") for measure in wide_measures()],
                "markdown": result("sheets/sheet.md"),
                "findings": tables["findings"],
                "findings_tex": result("sheets/findings.tex"),
                "sheet_tex": result("sheets/sheet.tex"),
            },
            {
                "sheet": sheet["sheet"],
                "selection": sheet["selection"],
                "seed_streams": sheet["seed_streams"],
                "measures": wide_measures(),
                "prediction_runs": plan.sheet_prediction_runs(),
                "study": study,
                "manifest": sheet,
            },
        ),
        job(
            "seed_population",
            {
                "metrics": tables["metrics"],
                "runs": tables["runs"],
                "predictions": predictions,
                "test_labels": plan.data_file("test_labels.npy"),
            },
            {"convergence": tables["convergence"], "gde": tables["gde"]},
            {
                "sheet": seed_population["sheet"],
                "prediction_runs": plan.sheet_prediction_runs(),
                "manifest": seed_population,
            },
        ),
        job(
            "per_example_measures",
            {
                "metrics": tables["metrics"],
                "rashomon": tables["rashomon"],
                "prediction_files": tables["prediction_files"],
                "test_labels": plan.data_file("test_labels.npy"),
            },
            {
                "measures": result("tables/per_example.parquet"),
                "ecdf": tables["ecdf"],
                "ensembles": tables["ensembles"],
                "abstention": tables["abstention"],
            },
            {
                "sheet": per_example["sheet"],
                "with_selection": per_example["with_selection"],
                "manifest": per_example,
            },
            threads=config["resources"]["cpu_threads"],  # the rule's threads: Snakemake caps them at --cores
        ),
    ]
    epsilon = {"epsilon": config["sheet"]["epsilon"]}
    figures = {  # rules/figures.smk's FIGURES: rule -> (figure file, inputs, extra params)
        "findings": ("findings", {"findings": tables["findings"]}, {}),
        "sheet_heatmap": ("sheet_heatmap", {"sheet": tables["sheet"], "findings": tables["findings"]}, epsilon),
        "dimension_trends": ("dimension_trends", {"metrics": tables["metrics"], "rashomon": tables["rashomon"]}, {}),
        "epsilon_curves": (
            "epsilon_curves",
            {"curves": tables["epsilon_curves"], "metrics": tables["metrics"]},
            epsilon,
        ),
        "disagreement_matrix": ("disagreement_base_seeds", {"pairs": tables["disagreement"]}, {}),
        "selection_effect": ("selection_effect", {"sheet": tables["sheet"], "steps": tables["selection"]}, {}),
        "per_example_distributions": (
            "per_example_distributions",
            {"ecdf": tables["ecdf"], "metrics": tables["metrics"]},
            {},
        ),
        "ensemble_sizes": ("ensemble_sizes", {"ensembles": tables["ensembles"], "metrics": tables["metrics"]}, {}),
        "gde": ("gde", {"gde": tables["gde"]}, {}),
        "seed_convergence": ("seed_convergence", {"convergence": tables["convergence"]}, {}),
        "abstention": ("abstention", {"abstention": tables["abstention"], "metrics": tables["metrics"]}, {}),
    }
    for rule, (file, inputs, extra) in figures.items():
        if rule == "selection_effect" and not config["selection"]:
            continue  # not in the default target without selection (common.smk's final_outputs)
        figure_params = {"study": study} | extra
        output = {"png": result(f"figures/{file}.png"), "pdf": result(f"figures/{file}.pdf")}
        jobs.append(job(rule, inputs, output, figure_params | {"manifest": figure_params, "script": rule}, rule))
    return jobs


def run_rule(spec_path: str) -> None:
    """In the rule's process: build `snakemake` and execute the rule's script, as Snakemake's `script:` does."""
    import runpy

    with open(spec_path, "rb") as handle:
        spec = pickle.load(handle)

    class Snakemake:
        input, output = Namedlist(spec["input"]), Namedlist(spec["output"])
        params, log = Namedlist(spec["params"]), Namedlist(values=spec["log"])
        threads = min(spec["threads"], os.cpu_count() or 1)  # what `--cores all` grants
        config, rule = spec["config"], spec["rule"]

    runpy.run_path(spec["script_path"], init_globals={"snakemake": Snakemake()}, run_name="__main__")


def time_rule(workdir: Path, job: dict, config: dict, repo: Path, timeout: float) -> dict:
    """Run one rule in its own process; its CPU seconds, wall seconds and peak RSS (MB), or why it has none."""
    missing = [path for path in Namedlist(job["input"]) if not (workdir / path).exists()]
    if missing:
        return {"status": f"skipped: no {Path(missing[0]).name}"}
    for path in [*Namedlist(job["output"]), *job["log"]]:
        (workdir / path).parent.mkdir(parents=True, exist_ok=True)  # Snakemake makes outputs' folders
    spec = job | {"config": config, "script_path": str(repo / "workflow" / "scripts" / f"{job['script']}.py")}
    spec_path = workdir / f"{job['rule']}.spec.pickle"
    spec_path.write_bytes(pickle.dumps(spec))
    console = open(workdir / f"{job['rule']}.console", "w")
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, "--run-rule", str(spec_path)],
        cwd=workdir,
        stdout=console,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a timeout ends it and anything it started
    )
    timer = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
    timer.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    timed_out = not timer.is_alive()
    timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it
    console.close()
    row = {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024}
    if timed_out:
        return row | {"status": f"timeout after {timeout:g} s"}
    if process.returncode:
        tail = (workdir / f"{job['rule']}.console").read_text()[-2000:]
        print(f"{job['rule']} failed:\n{tail}", file=sys.stderr)
        return row | {"status": f"failed ({process.returncode})"}
    return row | {"status": "ok"}


def cpu_model() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def code_version(repo: Path) -> str:
    done = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def measure(runs: int, args) -> list[dict]:
    """Fabricate one study of about `runs` runs and time every aggregation rule on it."""
    config = study_config(runs, n_test=args.n_test, n_val=args.n_val)
    workdir = Path(tempfile.mkdtemp(prefix=f"aggregation-R{runs}-", dir=args.work))
    try:
        started = time.perf_counter()
        plan = fabricate(workdir, config)
        common = {
            "date": date.today().isoformat(),
            "runs": len(plan.runs),
            "base_seeds": len(config["seeds"]),
            "n_test": args.n_test,
            "n_val": args.n_val,
            "cpu": cpu_model(),
            "cpus": os.cpu_count(),
            "code": code_version(args.repo),
        }
        print(f"R = {len(plan.runs)}: fabricated in {time.perf_counter() - started:.0f} s", flush=True)
        rows = []
        for job in rule_jobs(plan):
            if args.rules and job["rule"] not in args.rules:
                continue
            row = common | {"rule": job["rule"]} | time_rule(workdir, job, config, args.repo, args.timeout)
            print(f"  {job['rule']}: {row['status']} {row.get('cpu_s', float('nan')):.1f} CPU s", flush=True)
            rows.append(row)
        return rows
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def markdown(table: pd.DataFrame) -> str:
    """Rules x R: CPU seconds (peak memory), or the status where a rule has no numbers."""

    def cell(row):
        if row["status"] == "ok":
            return f"{row['cpu_s']:.1f} ({row['peak_rss_mb']:.0f} MB)"
        if row["status"].startswith("timeout"):
            return f"> {row['cpu_s']:.0f} ({row['peak_rss_mb']:.0f} MB)"
        return row["status"]

    cells = table.assign(cell=table.apply(cell, axis=1)).pivot(index="rule", columns="runs", values="cell")
    cells = cells.loc[table["rule"].unique()]
    lines = ["| rule | " + " | ".join(f"R={runs}" for runs in cells.columns) + " |"]
    lines.append("|---" * (len(cells.columns) + 1) + "|")
    lines += [f"| {rule} | " + " | ".join(row.fillna("")) + " |" for rule, row in cells.iterrows()]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, nargs="+", default=[20, 100, 400, 1000], help="about this many runs")
    parser.add_argument("--quick", action="store_true", help="R = 11 on 1,000 / 500 images")
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--n-val", type=int, default=5_000)
    parser.add_argument("--rules", nargs="+", help="time only these rules (default: all)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per rule before it is stopped")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose workflow/scripts run")
    parser.add_argument("--work", help="where the temporary studies go (default: the system's temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the fabricated studies")
    parser.add_argument("--out", type=Path, help="CSV of one row per (R, rule)")
    parser.add_argument("--run-rule", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_rule:
        return run_rule(args.run_rule)
    if args.quick:
        args.runs, args.n_test, args.n_val = [11], 1_000, 500
    table = pd.DataFrame([row for runs in args.runs for row in measure(runs, args)])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
    print(markdown(table))


if __name__ == "__main__":
    main()
