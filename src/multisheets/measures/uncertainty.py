"""How much of the spread between runs is real: test-sampling noise against between-run variance.

Every run is scored on the same finite test set, so its measured accuracy is its true accuracy (its
expectation over fresh test images) plus test-sampling noise. Over ``m`` runs, a variance-components view:

    a_i = mu + b_i + e_i,   Var(b_i) = sigma^2 (between runs, what multiplicity means),
    Var(e_i - e_j) = 2 tau^2 (test sampling, as it shows in differences between runs).

The part of the noise that every run shares (an easy or a hard test set) moves all runs together and never
shows in a spread, so ``tau^2`` is estimated from differences: for runs i, j scored on the same n images,
``Var(a_i - a_j) = var_k(s_ik - s_jk) / n`` with ``s_ik`` run i's score on image k (0/1 correctness, or the
mean over the instances of a summary such as ``corruption_mean``, so one image counts once however many
corrupted copies of it exist). For binary scores this is ``d / n`` up to a second-order term, d being the
rate at which exactly one of the two runs is right, and ``p (1 - p) / n`` for independent errors.

Then ``sigma^2 = s^2 - tau^2`` (clipped at 0), with a chi-square interval: ``(m - 1) s^2 / (sigma^2 + tau^2)``
follows chi2(m - 1) for normal run effects, and tau^2 (estimated from m(m-1)/2 pairs x n images) is treated
as known. ``benchmarks/coverage_simulation.py`` checks the coverage of these intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import integrate, special, stats

__all__ = ["MAX_STD", "normal_range_factor", "sampling_noise_variance", "VarianceComponents", "variance_components"]


#: the largest standard deviation a quantity in [0, 1] can have (half its values at 0, half at 1): the upper end
#: of an interval for the spread of accuracies is kept to it, as the range's is kept to 1.
MAX_STD = 0.5


@cache
def normal_range_factor(k: int) -> float:
    """Expected range (max - min) of k independent standard normals (d_2 = 1.128, d_5 = 2.326; 0 for k = 1).

    ``E[range] = integral of 1 - Phi(x)^k - (1 - Phi(x))^k over the real line`` (scipy's quadrature).
    """
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k == 1:
        return 0.0
    k = int(k)

    def integrand(x: float) -> float:
        phi = special.ndtr(x)
        return 1.0 - phi**k - (1.0 - phi) ** k

    value, _ = integrate.quad(integrand, -np.inf, np.inf, epsabs=1e-12, epsrel=1e-12, limit=200)
    return float(value)


def sampling_noise_variance(scores: np.ndarray, subsets: np.ndarray | None = None) -> float:
    """tau^2: half the mean over run pairs of Var(a_i - a_j) due to sampling the test images.

    ``scores``: (R, N) per-image scores in [0, 1] (0/1 correctness, or a summary's mean over instances); NaN
    where a run was not scored. ``subsets``: (R,) labels, runs with equal labels were scored on the same images
    (e.g. each run's worst class); ``None`` = all runs on all N images. Pairs within a subset use the variance
    of their paired score differences; pairs across disjoint subsets add their runs' own binomial variances.
    Fewer than 2 runs -> NaN.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores must be 2-D (runs, images), got shape {s.shape}")
    r = s.shape[0]
    if r < 2:
        return float("nan")
    labels = np.zeros(r, dtype=np.int64) if subsets is None else np.unique(np.asarray(subsets), return_inverse=True)[1]
    if labels.shape != (r,):
        raise ValueError(f"subsets must have one label per run, got shape {np.shape(subsets)}")
    own = np.empty(r)  # each run's own variance of its mean, for pairs across subsets
    within_total = 0.0  # sum over pairs within a subset of Var(a_i - a_j)
    for label in np.unique(labels):
        rows = s[labels == label]
        columns = ~np.isnan(rows).any(axis=0)
        if not columns.any():
            raise ValueError("a subset of runs has no image that all its runs were scored on")
        if not np.isnan(rows[:, ~columns]).all():
            raise ValueError("runs of one subset must be scored on the same images")
        part = rows[:, columns]
        g, n = part.shape
        means = part.mean(axis=1)
        own[labels == label] = part.var(axis=1) / n
        # sum_{i<j} mean_k (s_ik - s_jk)^2 = (g sum_ik s_ik^2 - sum_k (sum_i s_ik)^2) / n, and the same identity
        # on the means removes each pair's squared accuracy difference: this is sum_{i<j} var_k(s_i - s_j) / n.
        squared = (g * np.sum(part**2) - np.sum(part.sum(axis=0) ** 2)) / n
        squared_means = g * np.sum(means**2) - means.sum() ** 2
        within_total += max(squared - squared_means, 0.0) / n
    # a pair across subsets adds both runs' own variances: run i is in (r - size of its subset) such pairs
    across_total = float(np.sum(own * (r - np.bincount(labels)[labels])))
    pairs = r * (r - 1) / 2
    return float((within_total + across_total) / pairs / 2)


@dataclass(frozen=True)
class VarianceComponents:
    """Between-run spread of true accuracy, separated from test noise (all in accuracy units, not pp)."""

    n_runs: int
    observed_variance: float  # s^2, sample variance of the measured accuracies (ddof=1)
    sampling_noise_variance: float  # tau^2
    between_run_std: float  # sigma-hat = sqrt(max(s^2 - tau^2, 0))
    between_run_std_low: float  # chi-square interval at `confidence`, clipped at 0
    between_run_std_high: float  # kept to MAX_STD: with few runs the chi-square bound can pass what is possible
    p_value: float  # H0: sigma^2 = 0 (all spread is test noise); chi2 upper tail of (m-1) s^2 / tau^2
    range_null: float  # expected range of n_runs accuracies under H0: d_m * tau

    def expected_range(self, k: int) -> tuple[float, float, float]:
        """Expected range of the true accuracies of k runs, d_k * sigma, with the interval d_k * [low, high] (an
        accuracy range is at most 1)."""
        factor = normal_range_factor(k)
        low, high = factor * self.between_run_std_low, factor * self.between_run_std_high
        return (min(factor * self.between_run_std, 1.0), min(low, 1.0), min(high, 1.0))


def variance_components(accuracies: np.ndarray, tau2: float, confidence: float = 0.95) -> VarianceComponents:
    """Split the spread of ``accuracies`` (one per run) into test noise ``tau2`` and between-run variance."""
    a = np.asarray(accuracies, dtype=np.float64)
    if a.ndim != 1 or not np.all(np.isfinite(a)):
        raise ValueError("accuracies must be a 1-D array of finite values (drop diverged runs first)")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    m = a.size
    tau2 = float(tau2)
    nan = float("nan")
    null = normal_range_factor(m) * np.sqrt(tau2) if m >= 1 and np.isfinite(tau2) else nan
    if m < 2 or not np.isfinite(tau2):
        s2 = float(a.var(ddof=1)) if m >= 2 else nan
        return VarianceComponents(m, s2, tau2, nan, nan, nan, nan, null)
    s2 = float(a.var(ddof=1))
    df = m - 1
    alpha = 1 - confidence
    total_low = df * s2 / stats.chi2.ppf(1 - alpha / 2, df)
    total_high = df * s2 / stats.chi2.ppf(alpha / 2, df)
    p_value = float(stats.chi2.sf(df * s2 / tau2, df)) if tau2 > 0 else (0.0 if s2 > 0 else 1.0)
    return VarianceComponents(
        n_runs=m,
        observed_variance=s2,
        sampling_noise_variance=tau2,
        between_run_std=float(min(np.sqrt(max(s2 - tau2, 0.0)), MAX_STD)),
        between_run_std_low=float(min(np.sqrt(max(total_low - tau2, 0.0)), MAX_STD)),
        between_run_std_high=float(min(np.sqrt(max(total_high - tau2, 0.0)), MAX_STD)),
        p_value=p_value,
        range_null=float(null),
    )
