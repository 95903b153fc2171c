"""Test noise against between-run variance: known cases, brute force, and the coverage simulation."""

import importlib.util
import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from multisheets.measures.uncertainty import (
    MAX_STD,
    normal_range_factor,
    sampling_noise_variance,
    variance_components,
)


def test_normal_range_factor_known_values():
    assert normal_range_factor(1) == 0.0
    assert normal_range_factor(2) == pytest.approx(2 / math.sqrt(math.pi), abs=1e-9)  # E|X - Y| for N(0,1)
    assert normal_range_factor(3) == pytest.approx(3 / math.sqrt(math.pi), abs=1e-9)
    assert normal_range_factor(5) == pytest.approx(2.325929, abs=1e-6)  # published d2 constant for n = 5
    with pytest.raises(ValueError):
        normal_range_factor(0)


def test_normal_range_factor_matches_monte_carlo():
    draws = np.random.default_rng(0).standard_normal((200_000, 10))
    assert normal_range_factor(10) == pytest.approx(np.ptp(draws, axis=1).mean(), abs=0.01)


def brute_force_tau2(scores, subsets=None):
    """Definition, pair by pair: half of Var(a_i - a_j) from sampling images, averaged over pairs."""
    r = len(scores)
    subsets = np.zeros(r) if subsets is None else np.asarray(subsets)
    values = []
    for i, j in itertools.combinations(range(r), 2):
        if subsets[i] == subsets[j]:
            shared = ~np.isnan(scores[i])
            difference = scores[i][shared] - scores[j][shared]
            values.append(difference.var() / shared.sum())
        else:
            own = [np.nanvar(scores[k]) / (~np.isnan(scores[k])).sum() for k in (i, j)]
            values.append(sum(own))
    return np.mean(values) / 2


def test_tau2_by_hand():
    # differences 0, 1, -1, 0: variance 0.5 over 4 images -> Var(a1 - a2) = 0.125, tau^2 = 0.0625
    scores = np.array([[1, 1, 0, 0], [1, 0, 1, 0]], float)
    assert sampling_noise_variance(scores) == pytest.approx(0.0625)
    assert np.isnan(sampling_noise_variance(scores[:1]))
    assert sampling_noise_variance(np.ones((3, 5))) == 0.0  # identical runs: no noise in their differences


def test_tau2_matches_brute_force_and_binomial_limit():
    rng = np.random.default_rng(1)
    scores = (rng.random((6, 400)) < 0.8).astype(float)
    assert sampling_noise_variance(scores) == pytest.approx(brute_force_tau2(scores), rel=1e-12)
    # independent errors at equal accuracy: tau^2 -> p (1 - p) / n
    big = (rng.random((4, 200_000)) < 0.9).astype(float)
    assert sampling_noise_variance(big) == pytest.approx(0.9 * 0.1 / 200_000, rel=0.02)
    # a summary's per-image means in [0, 1] follow the same definition
    means = rng.integers(0, 4, (5, 300)) / 3
    assert sampling_noise_variance(means) == pytest.approx(brute_force_tau2(means), rel=1e-12)


def test_tau2_with_per_run_subsets_matches_brute_force():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 1000)
    worst = np.array([0, 0, 1, 2, 1, 0])
    correct = (rng.random((6, 1000)) < 0.7).astype(float)
    scores = np.where(labels[None, :] == worst[:, None], correct, np.nan)
    assert sampling_noise_variance(scores, worst) == pytest.approx(brute_force_tau2(scores, worst), rel=1e-12)
    with pytest.raises(ValueError, match="scored on"):
        sampling_noise_variance(scores, np.zeros(6))


def test_variance_components_by_hand():
    a = np.array([0.90, 0.92, 0.94])  # s^2 = 0.0004
    components = variance_components(a, tau2=0.0001)
    assert components.observed_variance == pytest.approx(0.0004)
    assert components.between_run_std == pytest.approx(math.sqrt(0.0003))
    # (m-1) s^2 / tau^2 = 8 on 2 degrees of freedom: the chi2(2) upper tail is exp(-x/2)
    assert components.p_value == pytest.approx(math.exp(-4))
    assert components.range_null == pytest.approx(3 / math.sqrt(math.pi) * 0.01)
    # the interval: chi-square bounds of s^2 + ... minus tau^2
    from scipy import stats

    low = math.sqrt(2 * 0.0004 / stats.chi2.ppf(0.975, 2) - 0.0001)
    high = math.sqrt(2 * 0.0004 / stats.chi2.ppf(0.025, 2) - 0.0001)
    assert (components.between_run_std_low, components.between_run_std_high) == pytest.approx((low, high))
    value, lo, hi = components.expected_range(5)
    assert (value, lo, hi) == pytest.approx(tuple(2.325929 * x for x in (math.sqrt(0.0003), low, high)), rel=1e-6)


def test_variance_components_clip_and_degenerate_cases():
    noisy = variance_components(np.array([0.90, 0.901, 0.902]), tau2=0.01)  # spread far below test noise
    assert noisy.between_run_std == 0.0 and noisy.between_run_std_low == 0.0 and noisy.p_value > 0.9
    single = variance_components(np.array([0.9]), tau2=0.001)
    assert np.isnan(single.between_run_std) and single.range_null == 0.0
    unknown = variance_components(np.array([0.9, 0.8]), tau2=float("nan"))
    assert np.isnan(unknown.between_run_std) and np.isnan(unknown.p_value)


def test_intervals_stay_within_what_an_accuracy_can_take():
    # Two runs 6.6 pp apart: the chi-square upper end on one degree of freedom is ~32x the std (212 pp unclipped),
    # more than any spread of values in [0, 1] can be.
    two = variance_components(np.array([0.80, 0.8939]), tau2=1e-5)
    assert two.between_run_std == pytest.approx(np.sqrt(np.var([0.80, 0.8939], ddof=1) - 1e-5))
    assert two.between_run_std_high == MAX_STD == 0.5
    assert two.between_run_std_low <= two.between_run_std <= two.between_run_std_high
    value, low, high = two.expected_range(5)
    assert high == 1.0 and low <= value <= high
    extreme = variance_components(np.array([0.0, 1.0]), tau2=0.0)  # sample std 0.707 > 0.5
    assert extreme.between_run_std == extreme.between_run_std_high == MAX_STD


def load_simulation():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "coverage_simulation.py"
    spec = importlib.util.spec_from_file_location("coverage_simulation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("noise", ["independent", "shared"])
def test_intervals_cover_in_every_cell(noise):
    """The sheet's intervals in the simulation the statistics were audited with: m in {5, 10, 20}, sigma in
    {0.25, 1} pp, n = 10,000, both noise models. A full run (4000 replicates a cell) is in docs/benchmarks.md;
    here 400 a cell, so the bound allows 2.5 standard errors below 0.95."""
    simulation = load_simulation()
    for m, sigma in itertools.product((5, 10, 20), (0.0025, 0.01)):
        cell = simulation.coverage(m, sigma, noise, reps=400)
        assert cell["coverage_sigma"] >= 0.92, cell
        assert cell["coverage_expected_range_k3"] >= 0.92, cell
    if noise == "shared":
        assert 0.045 <= cell["churn"] <= 0.055  # the correlated-difficulty model is calibrated to 5 % churn
    null = simulation.coverage(10, 0.0, noise, reps=400)
    assert null["reject_rate"] <= 0.08, null  # the test of sigma = 0 keeps its 5 % size
