"""Models per hour on one GPU with 1, 2, 4 runs trained on it at once (`resources.runs_per_gpu`).

A small model (the fast preset's fastnet) leaves most of a large GPU idle, so a job may train several of its runs
at once on each GPU, in separate worker processes. This trains `--models` runs of the fast preset's base through
exactly what a training job runs (`multisheets.infra.workers.run_job` with `multisheets.train.job`, the model
cache included) for each value of `--runs-per-gpu`, each time into a fresh folder, and prints models per hour.
The time is the job's wall clock: worker start, imports, data transfer, compilation (each worker compiles for
itself; inductor's on-disk cache is shared) and training.

    python benchmarks/runs_per_gpu.py --data /tmp/bench/data --models 12 --runs-per-gpu 1 2 4 --compile
    python benchmarks/runs_per_gpu.py --smoke     # CPU plumbing check: synthetic data, 4 tiny models, 1 and 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_throughput import FAST_SMOKE, fast_base, resolve_data  # noqa: E402

from multisheets.infra.workers import run_job  # noqa: E402
from multisheets.models.runtime import cpu_name  # noqa: E402
from multisheets.plan.identity import training_key  # noqa: E402
from multisheets.study.runs import expand_study  # noqa: E402
from multisheets.train import job  # noqa: E402


def train_models(data_dir: Path, work: Path, base: dict, models: int, runs_per_gpu: int, runtime: dict) -> float:
    """Seconds for one job of `models` runs with `runs_per_gpu` workers on GPU 0 (the CPU without one)."""
    config = {"base": base, "seeds": list(range(models)), "runtime": runtime}
    runs = expand_study(config)
    folder = work / f"runs_per_gpu={runs_per_gpu}"
    spec = dict(
        config=config,
        run_ids=[run.run_id for run in runs],
        keys=[training_key(run, runtime["precision"]) for run in runs],
        model_paths=[str(folder / run.run_id / "model.pt") for run in runs],
        log_paths=[str(folder / run.run_id / "train_log.json") for run in runs],
        data_dir=str(data_dir),
        model_cache=str(folder / "model_cache"),
        job="bench",
        threads=torch.get_num_threads(),
    )
    started = time.perf_counter()
    # GPU 0 where there is one; on a CPU the same workers, each told "GPU 0" (CUDA is absent, so they use the CPU)
    run_job(job, spec, ["0"], runs_per_gpu)
    return time.perf_counter() - started


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="synthetic", help="a prepared folder, an ImageFolder archive or synthetic")
    parser.add_argument("--models", type=int, default=12)
    parser.add_argument("--runs-per-gpu", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--work", type=Path, help="where data and models go (default: a temporary folder)")
    parser.add_argument("--smoke", action="store_true", help="synthetic data, 4 tiny models, 1 and 2 per GPU, CPU")
    parser.add_argument("--out", type=Path, help="also write the rows as CSV")
    args = parser.parse_args(argv)
    if args.smoke:
        args.data, args.models, args.runs_per_gpu = "synthetic", 4, [1, 2]
    base = fast_base(FAST_SMOKE if args.smoke else None)
    cuda = torch.cuda.is_available() and not args.smoke
    runtime = {"device": "cuda" if cuda else "cpu", "compile": args.compile, "precision": "auto"}
    device = torch.cuda.get_device_name(0) if cuda else cpu_name()
    with tempfile.TemporaryDirectory(prefix="runs-per-gpu-") as tmp:
        work = args.work or Path(tmp)
        data_dir = resolve_data(args.data, work, 5000)
        rows = []
        for runs_per_gpu in args.runs_per_gpu:
            seconds = train_models(data_dir, work, base, args.models, runs_per_gpu, runtime)
            rows.append(
                {
                    "device": device,
                    "runs_per_gpu": runs_per_gpu,
                    "models": args.models,
                    "seconds": round(seconds, 1),
                    "models_per_hour": round(3600 * args.models / seconds),
                    "compile": args.compile,
                    "torch": torch.__version__,
                    "date": date.today().isoformat(),
                }
            )
            print(f"runs_per_gpu {runs_per_gpu}: {seconds:.1f} s for {args.models} models", file=sys.stderr)
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
