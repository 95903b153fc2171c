"""Per-example measures against closed forms, brute force and hand-solved cases."""

import itertools

import numpy as np
import pytest

from multisheets.measures import per_example as arb
from multisheets.measures.population import mean_pairwise_disagreement
from multisheets.measures.probabilities import softmax, vote_counts

TOL = 1e-4  # bits: the capacity's stopping gap in every test


def entropy_bits(p):
    p = np.asarray(p, dtype=float)
    return -(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1)), 0)).sum(axis=-1)


def binary_channel_capacity(a, b):
    """Closed form for two inputs and two outputs, rows (1 - a, a) and (b, 1 - b), a + b != 1: when both inputs
    are used, D(row_i || q) = C for both, which is linear in log q; solving it gives C = log2(2^-u0 + 2^-u1)
    with u = W^-1 (H(row_0), H(row_1))."""
    channel = np.array([[1 - a, a], [b, 1 - b]])
    u = np.linalg.solve(channel, entropy_bits(channel))
    return np.log2((2.0**-u).sum())


def mutual_information_bits(weights, channel):
    output = weights @ channel
    ratio = np.where(channel > 0, channel / output, 1.0)
    return float((weights[:, None] * channel * np.log2(ratio)).sum())


@pytest.mark.parametrize("a,b", [(0.1, 0.1), (0.1, 0.3), (0.0, 0.4), (0.45, 0.05), (0.2, 0.75)])
def test_two_models_binary_outputs_match_the_closed_form(a, b):
    bits, gap = arb.channel_capacity(np.array([[[1 - a, a], [b, 1 - b]]]), tolerance=TOL)
    assert bits[0] == pytest.approx(binary_channel_capacity(a, b), abs=TOL)
    assert 0 <= gap[0] < TOL
    if a == b:  # binary symmetric channel: 1 - H(a)
        assert bits[0] == pytest.approx(1 - entropy_bits([a, 1 - a]), abs=TOL)


def test_rashomon_capacity_is_two_to_the_capacity_per_example():
    # two runs, three examples of binary outputs: run 0 gives (1 - a, a), run 1 gives (b, 1 - b)
    cases = [(0.1, 0.3), (0.0, 0.4), (0.2, 0.2)]
    probs = np.array([[[1 - a, a] for a, _ in cases], [[b, 1 - b] for _, b in cases]])
    values, gaps = arb.rashomon_capacity(probs, tolerance=TOL)
    expected = [2 ** binary_channel_capacity(a, b) for a, b in cases]
    assert values == pytest.approx(expected, rel=TOL) and (gaps < TOL).all()


def test_capacity_brute_force_over_the_input_simplex():
    """Three runs, three classes: the maximum of the mutual information over a fine grid of input weights."""
    rng = np.random.default_rng(3)
    for _ in range(4):
        channel = rng.dirichlet(np.ones(3) * 0.7, size=3)
        grid = np.array([(i, j, 400 - i - j) for i in range(401) for j in range(401 - i)]) / 400  # (G, 3)
        output = grid @ channel  # (G, classes)
        divergence = (channel[None] * np.log2(channel[None] / output[:, None, :])).sum(axis=2)  # (G, 3)
        brute = (grid * divergence).sum(axis=1).max()
        bits, gap = arb.channel_capacity(channel[None], tolerance=1e-6)
        # the grid can only fall short of the capacity, by a little
        assert brute - 1e-6 <= bits[0] + gap[0] and bits[0] - brute < 1e-4


def test_identical_runs_have_capacity_one_and_distinct_certain_runs_count_their_classes():
    p = np.array([0.7, 0.2, 0.1])
    values, gaps = arb.rashomon_capacity(np.broadcast_to(p, (5, 1, 3)))
    assert values[0] == 1.0 and gaps[0] == 0.0
    # five runs, each almost certain, of three different classes (two pairs agree): capacity log2(3)
    logits = np.full((5, 1, 10), -30.0)
    for run, cls in enumerate([0, 0, 4, 4, 7]):
        logits[run, 0, cls] = 30.0
    values, _ = arb.rashomon_capacity(softmax(logits, np.float64), tolerance=1e-6)
    assert values[0] == pytest.approx(3.0, rel=1e-5)


def test_nearly_identical_runs_converge_and_agree_with_a_general_optimiser():
    """Many runs with nearly the same probabilities: the regime where plain Blahut-Arimoto needs thousands of
    iterations. The answer must meet its gap and agree with a generic optimiser of the mutual information."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(0)
    base = rng.normal(size=10)
    logits = base + 0.15 * rng.normal(size=(15, 4, 10))
    probs = softmax(logits[:, :, :], np.float64)
    values, gaps = arb.rashomon_capacity(probs, tolerance=TOL, max_iterations=1000)
    assert (gaps < TOL).all()
    for example in range(4):
        channel = probs[:, example]

        def negative(z, channel=channel):
            weights = np.exp(z - z.max())
            return -mutual_information_bits(weights / weights.sum(), channel)

        best = minimize(negative, np.zeros(15), method="BFGS", options={"gtol": 1e-10})
        assert np.log2(values[example]) == pytest.approx(-best.fun, abs=TOL)


def test_iteration_cap_reports_the_remaining_gap():
    rng = np.random.default_rng(1)
    probs = softmax(rng.normal(size=10) + 0.1 * rng.normal(size=(15, 3, 10)), np.float64)
    _, gaps = arb.rashomon_capacity(probs, tolerance=1e-9, max_iterations=3)
    assert (gaps > 1e-9).all()  # stopped by the cap, and says so


def test_viable_prediction_range_brute_force():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(4), size=(6, 20))  # (R, N, C)
    classes = rng.integers(0, 4, size=20)
    expected = [
        max(probs[r, i, classes[i]] for r in range(6)) - min(probs[r, i, classes[i]] for r in range(6))
        for i in range(20)
    ]
    assert arb.viable_prediction_range(probs, classes) == pytest.approx(expected)
    # hand case: the true class gets 0.9, 0.6 and 0.2 from three runs
    probs = np.array([[[0.1, 0.9]], [[0.4, 0.6]], [[0.8, 0.2]]])
    assert arb.viable_prediction_range(probs, np.array([1]))[0] == pytest.approx(0.7)


def test_self_consistency_brute_force_over_pairs_of_distinct_runs():
    rng = np.random.default_rng(4)
    preds = rng.integers(0, 3, size=(5, 30))
    counts = vote_counts(preds, 3)
    brute = [np.mean([preds[i, x] == preds[j, x] for i, j in itertools.permutations(range(5), 2)]) for x in range(30)]
    assert arb.self_consistency(counts) == pytest.approx(brute)
    # its mean over examples is one minus the sheet's mean pairwise disagreement
    assert 1 - arb.self_consistency(counts).mean() == pytest.approx(mean_pairwise_disagreement(preds))
    # hand cases: 4 runs split 2-2 -> 1/3; 3-1 -> 1/2; one run -> undefined
    counts = np.array([[2, 2, 0], [3, 1, 0], [4, 0, 0]])
    assert arb.self_consistency(counts) == pytest.approx([1 / 3, 1 / 2, 1])
    assert np.isnan(arb.self_consistency(np.array([[1, 0]])))[0]


def test_plurality_vote_and_agreement():
    preds = np.array([[0, 1, 2], [0, 2, 2], [1, 1, 0], [1, 2, 0]])  # 4 runs, 3 examples
    counts = vote_counts(preds, 3)
    assert counts.tolist() == [[2, 2, 0], [0, 2, 2], [2, 0, 2]]
    assert arb.agreement(counts).tolist() == [0.5, 0.5, 0.5]
    mean_probs = np.array([[0.3, 0.4, 0.3], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    # every example is a 2-2 tie: the tied class with the higher mean probability wins, never an untied one
    assert arb.plurality_class(counts, mean_probs).tolist() == [1, 1, 2]
    counts = np.array([[3, 1, 0]])
    assert arb.plurality_class(counts, np.array([[0.0, 1.0, 0.0]])).tolist() == [0]  # one vote more wins


def test_softmax_refuses_diverged_logits():
    with pytest.raises(ValueError, match="diverged"):
        softmax(np.array([[np.nan, 0.0]], dtype=np.float16))
    assert softmax(np.array([[1000.0, 0.0]])).sum() == pytest.approx(1.0)
