"""The capacity solver against the one it replaced (commit 9117c09, copied below), and the per-example tally
taken in chunks against the tally taken at once."""

import numpy as np
import pytest

from multisheets.measures import capacity
from multisheets.measures.capacity import channel_capacity, neg_entropy
from multisheets.measures.ensembles import ensemble_tally
from multisheets.measures.probabilities import softmax, softmax_neg_entropy
from multisheets.sheets import per_example

TOL = 1e-4


def reference_capacity(channel, tolerance=1e-4, max_iterations=1000):
    """channel_capacity as of commit 9117c09: adaptive-step Blahut-Arimoto on every input, (bits, gap bits)."""
    channel = np.asarray(channel, dtype=np.float64)
    n, inputs, _ = channel.shape
    tol = tolerance * np.log(2)
    neg_entropy = np.where(channel > 0, channel * np.log(np.where(channel > 0, channel, 1.0)), 0.0).sum(axis=2)
    weights = np.full((n, inputs), 1.0 / inputs)
    divergence, information = _reference_divergences(weights, channel, neg_entropy)
    step = np.ones(n)
    result, gap = np.empty(n), np.empty(n)
    active = np.arange(n)
    for _ in range(max_iterations):
        upper = divergence.max(axis=1)
        done = upper - information < tol
        result[active[done]], gap[active[done]] = information[done], (upper - information)[done]
        keep = ~done
        if not keep.any():
            break
        active, weights, channel, neg_entropy = active[keep], weights[keep], channel[keep], neg_entropy[keep]
        divergence, information, step, upper = divergence[keep], information[keep], step[keep], upper[keep]
        logits = np.log(np.maximum(weights, 1e-300)) + step[:, None] * (divergence - upper[:, None])
        proposal = np.exp(logits - logits.max(axis=1, keepdims=True))
        proposal /= proposal.sum(axis=1, keepdims=True)
        new_divergence, new_information = _reference_divergences(proposal, channel, neg_entropy)
        better = new_information >= information
        weights = np.where(better[:, None], proposal, weights)
        divergence = np.where(better[:, None], new_divergence, divergence)
        information = np.where(better, new_information, information)
        step = np.where(better, step * 1.5, step / 4)
    else:
        result[active], gap[active] = information, divergence.max(axis=1) - information
    return np.maximum(result, 0.0) / np.log(2), gap / np.log(2)


def _reference_divergences(weights, channel, neg_entropy):
    output = np.einsum("ni,nio->no", weights, channel)
    divergence = neg_entropy - np.einsum("nio,no->ni", channel, np.log(np.maximum(output, 1e-300)))
    return divergence, (weights * divergence).sum(axis=1)


def assert_agree(channel, tolerance=TOL):
    """Both solvers certify an interval [bits, bits + gap] that holds the capacity: the intervals must meet, and
    the new one must be within the tolerance."""
    bits, gap = channel_capacity(channel, tolerance)
    old_bits, old_gap = reference_capacity(channel, tolerance, max_iterations=20000)
    slack = 1e-9
    assert (gap >= 0).all() and (gap < tolerance).all(), gap.max()
    assert (bits <= old_bits + old_gap + slack).all() and (old_bits <= bits + gap + slack).all()
    return bits, gap


def softmax_channels(rng, n, inputs, outputs, spread, scale=3.0):
    """Channels whose rows are the softmax of shared logits plus per-row noise of `spread` (runs of one set)."""
    base = scale * rng.normal(size=(n, 1, outputs))
    return softmax(base + spread * rng.normal(size=(n, inputs, outputs)), np.float64)


@pytest.mark.parametrize("inputs,outputs", [(2, 2), (2, 10), (3, 3), (5, 10), (20, 10), (60, 10), (8, 100)])
def test_random_channels_match_the_old_solver(inputs, outputs):
    rng = np.random.default_rng(inputs * 1000 + outputs)
    dirichlet = rng.dirichlet(np.full(outputs, 0.5), size=(30, inputs))
    for channel in (
        dirichlet,
        softmax_channels(rng, 30, inputs, outputs, 0.3),
        softmax_channels(rng, 30, inputs, outputs, 2.0),
    ):
        assert_agree(channel)


def test_confident_contradictions_converge_within_the_default_cap():
    """Most runs spread their probability, a fifth are certain of another class: the case the old solver left
    unconverged after 1000 iterations."""
    rng = np.random.default_rng(5)
    logits = 1.5 * rng.normal(size=(20, 1, 10)) + 0.5 * rng.normal(size=(20, 200, 10))
    logits[:, :, 0] += 4.0
    certain = rng.random((20, 200)) < 0.2
    logits[:, :, 3] += 15.0 * certain
    channel = softmax(logits.astype(np.float16), np.float32).astype(np.float64)
    bits, gap = channel_capacity(channel, TOL, max_iterations=1000)
    assert (gap < TOL).all()
    old_bits, old_gap = reference_capacity(channel[:4], TOL, max_iterations=20000)
    assert (np.abs(bits[:4] - old_bits) <= np.maximum(gap[:4], old_gap) + 1e-9).all()


def test_edge_cases_one_run_identical_rows_and_certain_rows():
    rng = np.random.default_rng(6)
    one = rng.dirichlet(np.ones(4), size=(3, 1))
    assert channel_capacity(one)[0].tolist() == [0.0] * 3 and channel_capacity(one)[1].tolist() == [0.0] * 3
    same = np.broadcast_to(rng.dirichlet(np.ones(5)), (2, 7, 5))
    assert channel_capacity(same)[0].tolist() == [0.0, 0.0] and channel_capacity(same)[1].tolist() == [0.0, 0.0]
    # one-hot rows, with repeats and exact zeros: log2 of the number of distinct classes
    for classes, expected in (([0, 0, 4], 1.0), ([1, 2], 1.0), ([0, 0, 4, 4, 7, 7, 7], np.log2(3))):
        channel = np.eye(10)[classes][None]
        bits, gap = channel_capacity(channel)
        assert bits[0] == pytest.approx(expected, abs=TOL) and gap[0] < TOL
    # one-hot rows mixed with soft ones (also with 100 runs: candidates, then all rows), and rows that differ in
    # the last bits only
    mixed = np.concatenate([np.eye(6)[[2, 2]], rng.dirichlet(np.ones(6), size=4)])[None]
    assert_agree(mixed)
    certain = np.eye(10)[rng.choice([0, 3, 5], size=(4, 100))]
    assert channel_capacity(certain)[0] == pytest.approx([np.log2(3)] * 4, abs=TOL)
    soft = rng.dirichlet(np.full(10, 0.3), size=(4, 100))
    assert_agree(np.where(rng.random((4, 100, 1)) < 0.3, certain, soft))
    row = rng.dirichlet(np.ones(10))
    close = row * (1 + 1e-9 * rng.normal(size=(1, 6, 10)))
    bits, gap = assert_agree(close / close.sum(axis=2, keepdims=True))
    assert bits[0] < 1e-6


def test_iteration_cap_reports_a_gap_that_covers_the_error():
    rng = np.random.default_rng(7)
    channel = softmax_channels(rng, 40, 30, 10, 0.5)
    exact, exact_gap = channel_capacity(channel, 1e-7, max_iterations=5000)
    assert (exact_gap < 1e-7).all()
    for cap in (1, 3, capacity.BA_ITERATIONS, capacity.BA_ITERATIONS + 2):
        bits, gap = channel_capacity(channel, 1e-9, max_iterations=cap)
        assert (bits <= exact + exact_gap + 1e-12).all() and (exact <= bits + gap + 1e-12).all()
    pair = softmax_channels(rng, 40, 2, 10, 1.0)
    bits, gap = channel_capacity(pair, 1e-12, max_iterations=1)
    assert (gap > 0).any() and (bits + gap >= channel_capacity(pair, 1e-12)[0] - 1e-12).all()


def test_tally_in_chunks_equals_the_tally_at_once(monkeypatch):
    rng = np.random.default_rng(8)
    logits = (2 * rng.normal(size=(1, 50, 4)) + rng.normal(size=(9, 50, 4))).astype(np.float16)
    labels = rng.integers(0, 4, 50)
    options = per_example.options_from(
        {
            "seed": 0,
            "ensemble_sizes": [1, 2, 4],
            "abstention_thresholds": [0.0, 0.6, 1.0],
            "arbitrary_self_consistency": 0.5,
            "capacity_tolerance": 1e-6,
            "capacity_max_iterations": 1000,
        }
    )
    whole = per_example.tally(logits, labels, options)
    monkeypatch.setattr(per_example, "TALLY_CELLS", 9 * 4 * 7)  # chunks of 7 examples, the last of 1
    chunked = per_example.tally(logits, labels, options)

    def leaves(tally, prefix=()):
        for key, value in tally.items():
            yield from leaves(value, (*prefix, key)) if isinstance(value, dict) else [((*prefix, key), value)]

    expected = dict(leaves(whole))
    assert [key for key, _ in leaves(chunked)] == list(expected)
    for key, value in leaves(
        chunked
    ):  # each example is solved on its own: only the order of the (float32) sums differs
        assert value == pytest.approx(expected[key], rel=1e-6, abs=1e-9), key


def test_ensembles_of_one_run_reuse_the_set_probabilities_exactly():
    rng = np.random.default_rng(9)
    logits = (3 * rng.normal(size=(7, 40, 5))).astype(np.float16)
    labels = rng.integers(0, 5, 40)
    settings = {"tolerance": 1e-6, "max_iterations": 1000}
    fresh = ensemble_tally(logits, labels, 1, 0, settings)
    reused = ensemble_tally(logits, labels, 1, 0, settings, softmax_neg_entropy(logits))
    assert fresh.keys() == reused.keys() and all(np.array_equal(fresh[key], reused[key]) for key in fresh)


def test_entropies_from_log_probabilities_match_the_logs_of_the_probabilities():
    """The solvers take sum p log p from the log-softmax (one log per row); it is the same channel's entropy, so
    capacity and gap equal those computed from the probabilities' own logs, to rounding."""
    rng = np.random.default_rng(11)
    logits = (4 * rng.normal(size=(30, 50, 6))).astype(np.float16)
    logits[:3, :5, 2] += 60  # probabilities that underflow to 0 elsewhere in those rows
    probs, negent = softmax_neg_entropy(logits)
    assert np.array_equal(probs.astype(np.float32), softmax(logits))
    np.testing.assert_allclose(negent, neg_entropy(probs), rtol=1e-12, atol=1e-12)
    for runs in (2, 30):  # the two-input solver and the candidates + barrier one
        channel = np.ascontiguousarray(probs[:runs].transpose(1, 0, 2))
        given = channel_capacity(channel, 1e-6, 1000, np.ascontiguousarray(negent[:runs].T))
        computed = channel_capacity(channel, 1e-6, 1000)
        np.testing.assert_allclose(given[0], computed[0], atol=1e-9)
        assert (given[1] < 1e-6).all() and (computed[1] < 1e-6).all()
