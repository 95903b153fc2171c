"""Do the sheet's intervals cover? A simulation of runs with known between-run spread.

Each replicate draws m runs whose true accuracies are N(p0, sigma) and scores them on n test images, under
one of two test-noise models:

* ``independent``: every run's errors are independent Bernoulli draws (a fresh test set per run);
* ``shared``: one test set with correlated example difficulty: run i is right on image k when
  ``rho * z_k + sqrt(1 - rho^2) * e_ik < Phi^-1(p_i)``, with z_k shared by all runs; rho is chosen so that
  two runs of accuracy p0 disagree on their correctness about 5 % of the time (churn as in real CIFAR-10 runs).

It then applies exactly what the sheet applies (`multisheets.uncertainty`) and counts how often each reported
interval contains the truth: the between-run std sigma and the expected range of k runs, d_k * sigma. It also
reports how often the test of sigma^2 = 0 rejects at 5 % when sigma = 0 (its size).

    python benchmarks/coverage_simulation.py --reps 4000 --out docs/coverage.csv
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from multisheets.measures.uncertainty import normal_range_factor, sampling_noise_variance, variance_components

P0, N_TEST, TARGET_CHURN = 0.93, 10_000, 0.05


def shared_rho(p0: float = P0, churn: float = TARGET_CHURN) -> float:
    """rho such that two runs of accuracy p0 are exactly-one-correct on a `churn` fraction of the images."""
    threshold = special.ndtri(p0)

    def excess(rho: float) -> float:
        # P(both right) for two standard normals with correlation rho^2, below the same threshold
        both = stats.multivariate_normal(mean=[0, 0], cov=[[1, rho**2], [rho**2, 1]]).cdf([threshold, threshold])
        return 2 * (p0 - both) - churn

    return float(optimize.brentq(excess, 0.0, 0.999))


def simulate_correctness(
    rng: np.random.Generator, true_accuracy: np.ndarray, n: int, noise: str, rho: float
) -> np.ndarray:
    """(m, n) bool correctness of runs with the given true accuracies under a noise model."""
    m = len(true_accuracy)
    if noise == "independent":
        return rng.random((m, n), dtype=np.float32) < true_accuracy[:, None]
    difficulty = rng.standard_normal(n, dtype=np.float32)
    own = rng.standard_normal((m, n), dtype=np.float32)
    latent = rho * difficulty[None, :] + np.sqrt(1 - rho**2) * own
    return latent < special.ndtri(true_accuracy)[:, None].astype(np.float32)


def coverage(
    m: int, sigma: float, noise: str, reps: int, n: int = N_TEST, seed: int = 0, k: int = 3, confidence: float = 0.95
) -> dict[str, float]:
    """Coverage of the sigma and expected-range intervals, and the rejection rate of H0: sigma = 0."""
    rng = np.random.default_rng([seed, m, int(sigma * 1e6), noise == "shared"])
    rho = shared_rho() if noise == "shared" else 0.0
    covered_sigma = covered_range = rejected = 0
    churn = []
    for _ in range(reps):
        true_accuracy = np.clip(P0 + sigma * rng.standard_normal(m), 1e-6, 1 - 1e-6)
        correct = simulate_correctness(rng, true_accuracy, n, noise, rho)
        components = variance_components(correct.mean(axis=1), sampling_noise_variance(correct), confidence)
        covered_sigma += components.between_run_std_low <= sigma <= components.between_run_std_high
        _, low, high = components.expected_range(k)
        covered_range += low <= normal_range_factor(k) * sigma <= high
        rejected += components.p_value < 0.05
        churn.append((correct[0] != correct[1]).mean())
    return {
        "m": m,
        "sigma_pp": sigma * 100,
        "noise": noise,
        "reps": reps,
        "churn": float(np.mean(churn)),
        "coverage_sigma": covered_sigma / reps,
        f"coverage_expected_range_k{k}": covered_range / reps,
        "reject_rate": rejected / reps,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=4000, help="replicates per cell")
    parser.add_argument("--n", type=int, default=N_TEST, help="test images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the table as CSV")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = [
        coverage(m, sigma, noise, args.reps, args.n, args.seed)
        for noise in ("independent", "shared")
        for sigma in (0.0025, 0.01, 0.0)
        for m in (5, 10, 20)
    ]
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"{time.perf_counter() - started:.0f} s")
    if args.out:
        table.to_csv(args.out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
