"""How long the per-example step takes for one set of R runs on one intervention, and how much memory it needs.

It fabricates stored logits (R runs x N examples x C classes, float16) that look like a CIFAR-10 population.
Each example has a shared difficulty (the margin of its true class, ~92 % accuracy) plus per-run noise, so two
runs disagree on a few percent of the examples. 0.5 % of the examples are *confident contradictions*: a fifth
of the runs are certain of one wrong class there. It then times the rule's library call for one instance,
`multisheets.sheets.per_example.tally` (per-example measures, abstention, ensembles of every default size), with
the schema's default settings. Each R runs in a fresh process, so the peak RSS is that instance's.

    PYTHONPATH=src python benchmarks/per_example_speed.py --runs 20 100 200 --threads 2 --out per_example_speed.csv

Columns: runs, examples, classes, threads (`tally`'s; code from before `tally` had threads is timed with 1),
cpu_s (process CPU time of the call, all threads), wall_s, rss_before_mib (after fabricating the logits) and
peak_rss_mib (the process's peak), converged (share of examples whose capacity gap is below the tolerance), the
mean Rashomon capacity and the k = 1 ensemble pairs' mean capacity (compare them between versions of the code),
and the `multisheets` package timed (its path).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

# the schema's defaults for the per-example stage (src/multisheets/study/config.schema.yaml)
SETTINGS = {
    "seed": 0,
    "ensemble_sizes": [1, 2, 4, 8, 16],
    "abstention_thresholds": [0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
    "arbitrary_self_consistency": 0.5,
    "capacity_tolerance": 1e-4,
    "capacity_max_iterations": 1000,
}


def fabricate(runs: int, n: int, classes: int = 10, seed: int = 0, contradictions: float = 0.005):
    """(logits (runs, n, classes) float16, labels (n,)): shared difficulty, per-run noise, a few contradictions."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    base = rng.normal(0.0, 1.5, (n, classes))
    base[np.arange(n), labels] += rng.normal(8.0, 3.5, n)  # the true class's margin: ~92 % of runs right
    logits = np.empty((runs, n, classes), np.float16)
    for run in range(runs):
        logits[run] = base + rng.normal(0.0, 0.5, (n, classes))
    chosen = rng.choice(n, int(contradictions * n), replace=False)
    wrong = (labels[chosen] + rng.integers(1, classes, len(chosen))) % classes
    for example, cls in zip(chosen, wrong):
        logits[rng.random(runs) < 0.2, example, cls] += 15.0
    return logits, labels


def measure(runs: int, n: int, classes: int, threads: int = 1) -> dict:
    import multisheets
    from multisheets.sheets.per_example import options_from, tally

    logits, labels = fabricate(runs, n, classes)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    options = options_from(SETTINGS)
    cpu, wall = time.process_time(), time.perf_counter()
    # only a threaded run names the argument, so the script also times code from before `tally` had it
    result = tally(logits, labels, options, threads=threads) if threads > 1 else tally(logits, labels, options)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    pairs = result["ensembles"][1]
    return {
        "runs": runs,
        "examples": n,
        "classes": classes,
        "threads": threads,
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "rss_before_mib": round(before),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "converged": 1.0 - result["unconverged"][0] / result["n"][0],
        "capacity_mean": result["rashomon_capacity"]["sum"][0] / result["rashomon_capacity"]["count"][0],
        "pair_capacity_mean": pairs["capacity_sum"][0] / pairs["pair_examples"][0],
        "package": multisheets.__file__,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[20, 100, 200])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="tally's thread count")
    parser.add_argument("--out", help="CSV of the rows")
    parser.add_argument("--single", action="store_true", help="measure the first --runs in this process")
    args = parser.parse_args(argv)
    if args.single:
        print(json.dumps(measure(args.runs[0], args.examples, args.classes, args.threads)))
        return
    rows = []
    for runs in args.runs:
        command = [sys.executable, __file__, "--single", "--runs", str(runs), "--examples", str(args.examples)]
        command += ["--classes", str(args.classes), "--threads", str(args.threads)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    if args.out:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
