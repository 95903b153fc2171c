"""Capacity of many small discrete memoryless channels at once: the solver behind the Rashomon capacity.

Every channel's answer comes with a certificate. For any input distribution p, the mutual information I(p) is at
most the capacity, and for any output distribution q, max over inputs of KL(row || q) is at least the capacity.
The reported gap is (the smallest such upper bound found) - (the largest such I(p) found). So the gap bounds the
error no matter how p and q were found, and each solver below only has to be quick, not exact.

* one input, or all rows equal: capacity 0, gap 0, without iterating;
* two inputs (the ensemble pairs, millions of channels per set): I(w) is concave in the weight w of the first
  row, with derivative KL(row0 || q) - KL(row1 || q), so a safeguarded Newton iteration on w (bisection where the
  Newton step leaves the bracket) converges in a handful of steps;
* more inputs: first on 2 * outputs candidate rows, certified on all rows (`_many_inputs`). Each solve is
  Blahut-Arimoto with an adaptive step for up to `BA_ITERATIONS` (converged examples leave the iteration). What
  BA leaves over goes to a log-barrier Newton method on the dual problem, min over q of max_i KL(row_i || q).
  That is mostly the *confident contradictions*, where a few runs are certain of another class, on which BA
  needs thousands of iterations. The dual has only ``outputs + 1`` variables whatever the number of runs, and
  its multipliers give p.

BA updates and Newton steps alike count towards `max_iterations`. The candidates' solve and the solve on all
rows that follows where they fall short have that cap each. Work is in nats and float64.
"""

from __future__ import annotations

import numpy as np

LN2 = np.log(2)
# Blahut-Arimoto iterations before the examples left over go to the barrier method. Half the examples of
# 200 nearly agreeing runs need 40-160 BA iterations, and a barrier step costs about 10 BA updates. 80 was the
# fastest of 20, 40 and 80 on benchmarks/per_example_speed.py's sets.
BA_ITERATIONS = 80
BARRIER_GROWTH = 8.0  # the barrier parameter's factor once a centre is reached
CENTRED = 1e-4  # Newton decrement^2 / 2 below which the barrier problem counts as centred
TINY = 1e-300  # log(TINY) stands in for log 0 where a zero probability multiplies it


def channel_capacity(
    channel: np.ndarray, tolerance: float = 1e-4, max_iterations: int = 1000, negent: np.ndarray | None = None
):
    """Capacity in bits of ``n`` channels, `channel` ``(n, inputs, outputs)`` with rows that are distributions.

    `negent`: ``(n, inputs)``, each row's sum_y W log W in nats, where the caller has it from log-probabilities
    (`probabilities.softmax_neg_entropy`); otherwise it is computed here, one float64 log per cell.

    Returns ``(capacity, gap)``, both ``(n,)`` in bits. `capacity` is the mutual information of the best input
    distribution found. `gap` is a certificate of its error, true capacity - capacity in [0, gap] (see the module
    docstring). An example stops once its gap is below `tolerance` bits. Otherwise it stops after
    `max_iterations`, and the gap says how far off it may be.
    """
    channel = np.asarray(channel, dtype=np.float64)
    n, inputs, _ = channel.shape
    capacity, gap = np.zeros(n), np.zeros(n)
    varied = np.flatnonzero((channel != channel[:, :1]).any(axis=(1, 2))) if inputs > 1 else np.arange(0)
    if len(varied):
        solve = _two_inputs if inputs == 2 else _many_inputs
        rows = channel[varied]
        negent = neg_entropy(rows) if negent is None else np.asarray(negent, dtype=np.float64)[varied]
        capacity[varied], gap[varied] = solve(rows, negent, tolerance * LN2, max_iterations)
    return np.maximum(capacity, 0.0) / LN2, gap / LN2


def neg_entropy(channel: np.ndarray) -> np.ndarray:
    """sum_y W log W per row (nats), with 0 log 0 = 0 (0 * log TINY)."""
    return np.einsum("...o,...o->...", channel, np.log(np.maximum(channel, TINY)))


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of two ``(n, k)`` arrays (einsum: several times faster than (a * b).sum(axis=1)
    over a short axis)."""
    return np.einsum("nk,nk->n", a, b)


def mix(weights: np.ndarray, channel: np.ndarray) -> np.ndarray:
    """sum_i weights_i * row_i per example: ``(n, inputs)`` and ``(n, inputs, outputs)`` -> ``(n, outputs)``
    (a batched matrix product: BLAS, several times faster than the equivalent einsum)."""
    return (weights[:, None, :] @ channel)[:, 0]


def divergences(output: np.ndarray, channel: np.ndarray, negent: np.ndarray) -> np.ndarray:
    """KL(row || output) in nats per row: output ``(n, outputs)``, channel ``(n, inputs, outputs)``."""
    return negent - (channel @ np.log(np.maximum(output, TINY))[..., None])[..., 0]


def _two_inputs(channel: np.ndarray, negent: np.ndarray, tol: float, max_iterations: int):
    n = len(channel)
    first, second = channel[:, 0], channel[:, 1]
    weight, low, high = np.full(n, 0.5), np.zeros(n), np.ones(n)
    capacity, gap = np.empty(n), np.empty(n)
    active = np.arange(n)
    for iteration in range(max_iterations):
        output = weight[:, None] * first + (1 - weight[:, None]) * second
        log_output = np.log(np.maximum(output, TINY))
        d0 = negent[:, 0] - dot(first, log_output)
        d1 = negent[:, 1] - dot(second, log_output)
        information = weight * d0 + (1 - weight) * d1
        slope = d0 - d1  # dI/dw
        now = np.maximum(d0, d1) - information
        done = (now < tol) | (iteration == max_iterations - 1)
        capacity[active[done]], gap[active[done]] = information[done], now[done]
        if done.all():
            break
        keep = ~done
        active, first, second, negent = active[keep], first[keep], second[keep], negent[keep]
        weight, low, high, slope, output = weight[keep], low[keep], high[keep], slope[keep], output[keep]
        # I is concave in w, so the optimum lies above w where the slope is positive
        low, high = np.where(slope > 0, weight, low), np.where(slope > 0, high, weight)
        difference = first - second
        curvature = dot(difference, difference / np.maximum(output, TINY))  # -d2I/dw2 > 0
        newton = weight + slope / curvature
        weight = np.where((newton > low) & (newton < high), newton, (low + high) / 2)
    return capacity, gap


def _many_inputs(channel: np.ndarray, negent: np.ndarray, tol: float, max_iterations: int):
    """Solve on a few candidate rows per example, certify on all rows, and solve all rows where that fails.

    The optimal input distribution uses at most `outputs` rows, often extreme ones. So the candidates are the
    2 * outputs runs that give some class the most or the least probability. Any p on them is an input
    distribution of the whole channel, and its upper bound is taken over all rows. On the fabricated
    CIFAR-like sets of `benchmarks/per_example_speed.py` (200 runs), this meets the gap on ~70 % of the
    examples, with 20 rows instead of 200. More candidates (top 2 or 3 per class, random projections, the
    rows of largest divergence after a first solve) did not do better: the upper bound needs q very close to
    the optimum. The rest go to the barrier method on all rows, started from the candidates' p.
    """
    n, inputs, outputs = channel.shape
    size = 2 * outputs
    if inputs <= 2 * size:
        return _ba_barrier(channel, negent, tol, max_iterations)[:2]
    chosen = np.concatenate([channel.argmax(axis=1), channel.argmin(axis=1)], axis=1)  # (n, size)
    rows = np.arange(n)[:, None]
    # half the tolerance on the candidates leaves the other half for the rows left out
    capacity, _, found = _ba_barrier(channel[rows, chosen], negent[rows, chosen], tol / 2, max_iterations)
    weights = np.zeros((n, inputs))
    np.add.at(weights, (np.broadcast_to(rows, chosen.shape), chosen), found)
    gap = divergences(mix(weights, channel), channel, negent).max(axis=1) - capacity
    retry = np.flatnonzero(gap >= tol)
    if len(retry):  # the barrier on all rows, from the candidates' p: faster than starting over with BA
        capacity[retry], gap[retry], _ = _barrier(channel[retry], negent[retry], weights[retry], tol, max_iterations)
    return capacity, gap


def _ba_barrier(channel: np.ndarray, negent: np.ndarray, tol: float, max_iterations: int):
    """Blahut-Arimoto with an adaptive step, then the barrier method for the examples it leaves: (capacity, gap,
    input distribution) in nats.

    BA's update is p <- p * exp(step * KL(row || q)) (BA's own step is 1). The step grows 1.5x after each update
    that raises the mutual information and shrinks 4x (the update discarded) after one that does not, which keeps
    the iteration monotone where the runs nearly agree and BA's own step crawls.
    """
    n, inputs, _ = channel.shape
    weights = np.full((n, inputs), 1.0 / inputs)
    divergence = divergences(mix(weights, channel), channel, negent)
    information = dot(weights, divergence)
    step = np.ones(n)
    capacity, gap, found = np.empty(n), np.empty(n), np.empty((n, inputs))
    active = np.arange(n)
    iterations = min(max_iterations, BA_ITERATIONS)
    for iteration in range(iterations + 1):
        upper = divergence.max(axis=1)
        done = upper - information < tol
        if iteration == iterations == max_iterations:
            done[:] = True  # the cap: report where BA stopped
        if done.any():
            capacity[active[done]], gap[active[done]] = information[done], (upper - information)[done]
            found[active[done]] = weights[done]
            keep = ~done
            active, weights, channel, negent = active[keep], weights[keep], channel[keep], negent[keep]
            divergence, information, step, upper = divergence[keep], information[keep], step[keep], upper[keep]
        if not len(active) or iteration == iterations:
            break
        logits = np.log(np.maximum(weights, TINY)) + step[:, None] * (divergence - upper[:, None])
        proposal = np.exp(logits - logits.max(axis=1, keepdims=True))
        proposal /= proposal.sum(axis=1, keepdims=True)
        new_divergence = divergences(mix(proposal, channel), channel, negent)
        new_information = dot(proposal, new_divergence)
        better = new_information >= information
        weights[better], divergence[better], information[better] = (
            proposal[better],
            new_divergence[better],
            new_information[better],
        )
        step = np.where(better, step * 1.5, step / 4)
    if len(active):
        capacity[active], gap[active], found[active] = _barrier(
            channel, negent, weights, tol, max_iterations - iterations
        )
    return capacity, gap, found


def _barrier(channel: np.ndarray, negent: np.ndarray, weights: np.ndarray, tol: float, steps: int):
    """Log-barrier Newton method on min_{q, t} t subject to KL(row_i || q) <= t and q >= 0, sum q = 1.

    phi = tau * t - sum_i log(t - D_i(q)) - sum_y log q_y is minimised for a growing tau; at its minimum the
    multipliers 1 / (tau (t - D_i)) sum to 1 and are an input distribution p whose I(p) is within
    (inputs + outputs) / tau of the capacity. `weights`: the input distribution to start from (BA's).
    """
    m, inputs, outputs = channel.shape
    lower, upper = _bounds(weights, channel, negent)
    output = mix(weights, channel)
    output = np.maximum(output, 1e-12)
    output /= output.sum(axis=1, keepdims=True)
    divergence = divergences(output, channel, negent)
    level = divergence.max(axis=1) + np.maximum(upper - lower, tol)  # t: strictly feasible
    tau = (inputs + outputs) / np.maximum(upper - lower, tol)
    capacity, gap, found = lower.copy(), upper - lower, weights.copy()
    active = np.arange(m)
    for _ in range(steps):
        slack = level[:, None] - divergence
        grad_q, grad_t, hessian = _barrier_derivatives(channel, output, slack, tau)
        # Newton step on (q, t) within sum q = 1: the KKT system with one multiplier
        kkt = np.zeros((len(active), outputs + 2, outputs + 2))
        kkt[:, : outputs + 1, : outputs + 1] = hessian
        kkt[:, :outputs, outputs + 1] = kkt[:, outputs + 1, :outputs] = 1.0
        rhs = -np.concatenate([grad_q, grad_t[:, None], np.zeros((len(active), 1))], axis=1)
        solution = _solve(kkt, rhs)
        d_q, d_t = solution[:, :outputs], solution[:, outputs]
        decrement = -dot(grad_q, d_q) - grad_t * d_t  # Newton decrement^2
        output, level, divergence = _line_search(channel, negent, output, level, divergence, d_q, d_t, tau, decrement)
        # the multipliers, normalised, are an input distribution: its certificate, and q's upper bound
        p = 1.0 / (level[:, None] - divergence)
        p /= p.sum(axis=1, keepdims=True)
        new_lower, new_upper = _bounds(p, channel, negent)
        better = new_lower > lower
        found[active[better]] = p[better]
        lower = np.maximum(lower, new_lower)
        upper = np.minimum(upper, np.minimum(new_upper, divergence.max(axis=1)))
        # an example whose Newton system broke down (the slack underflowed) keeps the bounds it has
        done = (upper - lower < tol) | ~np.isfinite(solution).all(axis=1)
        capacity[active], gap[active] = lower, upper - lower
        tau = np.where(decrement / 2 < CENTRED, tau * BARRIER_GROWTH, tau)
        keep = ~done
        if not keep.any():
            break
        active, channel, negent, output, level = active[keep], channel[keep], negent[keep], output[keep], level[keep]
        divergence, lower, upper, tau = divergence[keep], lower[keep], upper[keep], tau[keep]
    return capacity, gap, found


def _solve(kkt: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Batched Newton systems; an example whose system is not finite or singular gets NaN, not an exception."""
    solution = np.full(rhs.shape, np.nan)
    fine = np.isfinite(kkt).all(axis=(1, 2)) & np.isfinite(rhs).all(axis=1)
    try:
        solution[fine] = np.linalg.solve(kkt[fine], rhs[fine][..., None])[..., 0]
    except np.linalg.LinAlgError:  # rare: one singular system fails the batch, so solve one by one
        for row in np.flatnonzero(fine):
            try:
                solution[row] = np.linalg.solve(kkt[row], rhs[row])
            except np.linalg.LinAlgError:
                pass
    return solution


def _bounds(weights: np.ndarray, channel: np.ndarray, negent: np.ndarray):
    """(I(p), max_i KL(row_i || q_p)) in nats for input distributions ``(n, inputs)``."""
    divergence = divergences(mix(weights, channel), channel, negent)
    return dot(weights, divergence), divergence.max(axis=1)


def _barrier_derivatives(channel, output, slack, tau):
    """Gradient (q, t) and Hessian ``(m, outputs + 1, outputs + 1)`` of the barrier objective phi."""
    inverse = 1.0 / slack  # (m, inputs)
    grad_divergence = -channel / output[:, None, :]  # dD_i/dq
    grad_q = mix(inverse, grad_divergence) - 1.0 / output
    grad_t = tau - inverse.sum(axis=1)
    m, outputs = output.shape
    hessian = np.empty((m, outputs + 1, outputs + 1))
    weighted = grad_divergence * (inverse**2)[..., None]
    hessian[:, :outputs, :outputs] = weighted.transpose(0, 2, 1) @ grad_divergence
    diagonal = (mix(inverse, channel) + 1.0) / output**2
    hessian[:, np.arange(outputs), np.arange(outputs)] += diagonal
    hessian[:, :outputs, outputs] = hessian[:, outputs, :outputs] = -weighted.sum(axis=1)
    hessian[:, outputs, outputs] = (inverse**2).sum(axis=1)
    return grad_q, grad_t, hessian


def _phi(level, divergence, output, tau):
    slack = level[:, None] - divergence
    with np.errstate(invalid="ignore", divide="ignore"):
        value = tau * level - np.log(slack).sum(axis=1) - np.log(output).sum(axis=1)
    feasible = (slack > 0).all(axis=1) & (output > 0).all(axis=1)
    return np.where(feasible, value, np.inf)


def _line_search(channel, negent, output, level, divergence, d_q, d_t, tau, decrement, halvings=40):
    """Backtracking (Armijo) along the Newton step, staying strictly feasible; an example that finds no
    decrease keeps its point."""
    start = _phi(level, divergence, output, tau)
    alpha = np.ones(len(level))
    searching = np.ones(len(level), dtype=bool)
    new_output, new_level, new_divergence = output.copy(), level.copy(), divergence.copy()
    for _ in range(halvings):
        rows = np.flatnonzero(searching)
        if not len(rows):
            break
        a = alpha[rows, None]
        trial_output = output[rows] + a * d_q[rows]
        trial_level = level[rows] + a[:, 0] * d_t[rows]
        trial_divergence = divergences(trial_output, channel[rows], negent[rows])
        value = _phi(trial_level, trial_divergence, trial_output, tau[rows])
        accept = value <= start[rows] - 0.25 * a[:, 0] * decrement[rows]
        hit = rows[accept]
        new_output[hit], new_level[hit], new_divergence[hit] = (
            trial_output[accept],
            trial_level[accept],
            trial_divergence[accept],
        )
        searching[hit] = False
        alpha[rows[~accept]] /= 2
    return new_output, new_level, new_divergence
