"""Per-example multiplicity and its remedies for every set of runs the sheet reports, from the stored logits.

The sets are read from ``rashomon.csv`` (chosen on the validation split): per scenario the Rashomon set and,
when the study configures `selection`, the runs that survive it. Every number is measured on the test split,
for every intervention of the sheet that scores the classifier on test examples (clean, corruptions and their
summaries, attacks, shift sets, subgroups; not the membership attack, ECE or worst class/group, whose examples
are not one test set shared by all runs).

Logits are read one intervention at a time for all runs that belong to any set, so memory holds one
``(runs, N, C)`` float16 array. A summary (``corruption=fog``, ``corruption_mean``) adds up the tallies of its
instances (`remedies`), so each corrupted copy counts as one example, as in the sheet's disagreement.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from multisheets.interventions.names import aggregates
from multisheets.interventions.registry import FAMILIES
from multisheets.measures.abstention import abstention_rows, abstention_tally
from multisheets.measures.ensembles import ensemble_rows, ensemble_tally
from multisheets.sheets.example_measures import ECDF_POINTS, PER_EXAMPLE_MEASURES, ExampleSet
from multisheets.sheets.metrics_table import intervention_families
from multisheets.sheets.predictions import PredictionStore
from multisheets.sheets.sheet import REPORTED_SPLIT, sheet_interventions

log = logging.getLogger(__name__)


@dataclass
class PerExampleTables:
    """Everything the per-example stage writes; each table is long form."""

    measures: pd.DataFrame  # scenario x selection x intervention x measure: mean over examples
    ecdf: pd.DataFrame  # ... x measure x threshold: share of examples with a value <= threshold
    ensembles: pd.DataFrame  # ... x ensemble size x measure
    abstention: pd.DataFrame  # ... x agreement threshold x measure


def run_sets(rashomon_sets: pd.DataFrame, with_selection: bool) -> list[tuple[str, str, tuple[str, ...]]]:
    """(scenario, selection, runs) for every set the sheet reports: the Rashomon set of each scenario and, with a
    selection configured, its survivors. Runs are sorted by id, so a set's ensembles do not depend on row order."""
    sets = []
    for scenario, rows in rashomon_sets.groupby("scenario", sort=False):
        for label, column in (("rashomon", "in_rashomon_set"), ("selected", "selected")):
            runs = tuple(sorted(rows.loc[rows[column].astype(bool) & rows["in_rashomon_set"].astype(bool), "run_id"]))
            if runs and (label == "rashomon" or with_selection):
                sets.append((scenario, label, runs))
    return sets


def reported_interventions(metrics: pd.DataFrame, settings: dict[str, Any]) -> dict[str, str]:
    """The sheet's columns that score the classifier on shared test examples -> family, in the sheet's order."""
    test = metrics[(metrics["split"] == REPORTED_SPLIT) & ~metrics["derived"].astype(bool)]
    # Diverged runs have no metric; the membership attack's `accuracy` is the attack's ("attack_accuracy").
    metric = test.dropna(subset=["metric"]).groupby("intervention")["metric"].agg(set)
    classifier = {name for name, held in metric.items() if held == {"accuracy"}}
    groups = aggregates(sorted(classifier))
    family = intervention_families(metrics)
    return {
        name: family[name] for name in sheet_interventions(metrics, settings) if name in classifier or name in groups
    }


# Examples are tallied in chunks of at most this many (run, example, class) cells, so that the float64
# temporaries of the softmax, the capacity and the ensembles (a few times 32 MiB) do not grow with R x N x C.
TALLY_CELLS = 2**22
MIN_CHUNKS = 8


def tally(
    logits: np.ndarray, labels: np.ndarray, options: dict[str, Any], with_remedies: bool = True, threads: int = 1
) -> dict:
    """Sums over the examples of one intervention for one set: per-example measures (sum, count, ECDF counts)
    and, `with_remedies`, abstention per threshold and ensembles per size. Adding two tallies gives the tally of
    both example sets, which is how the examples are taken here: in chunks of `TALLY_CELLS`.

    `threads` > 1 tallies that many chunks at once (numpy releases the GIL in its array operations). The chunks
    are the same and are added in the same order whatever `threads`, so the result is bit-identical to one
    thread's; memory holds one chunk's temporaries per thread."""
    # at least MIN_CHUNKS chunks, so that a pool has work for every thread; the chunks depend on the shape only
    chunk = max(1, min(TALLY_CELLS // (logits.shape[0] * logits.shape[2]), -(-len(labels) // MIN_CHUNKS)))
    parts = [slice(start, start + chunk) for start in range(0, max(len(labels), 1), chunk)]

    def one(part: slice) -> dict:
        return _tally_chunk(logits[:, part], labels[part], options, with_remedies)

    total = None
    if threads > 1 and len(parts) > 1:
        with ThreadPoolExecutor(min(threads, len(parts))) as pool:
            for result in pool.map(one, parts):  # map yields in chunk order: the same sums as one thread's
                total = merge(total, result)
    else:
        for part in parts:
            total = merge(total, one(part))
    return total


def _tally_chunk(logits: np.ndarray, labels: np.ndarray, options: dict[str, Any], with_remedies: bool) -> dict:
    examples = ExampleSet(logits, labels, options)
    n_classes = logits.shape[2]
    result = {
        "n": np.array([float(len(labels))]),
        "unconverged": np.array([float((examples.capacity[1] >= options["capacity"]["tolerance"]).sum())]),
    }
    for name, measure in PER_EXAMPLE_MEASURES.items():
        value = measure.compute(examples)
        finite = np.sort(value[~np.isnan(value)])
        result[name] = {"sum": np.array([finite.sum()]), "count": np.array([float(len(finite))])}
        if measure.distributed:
            result[name]["ecdf"] = np.searchsorted(finite, measure.support(n_classes), side="right").astype(float)
    if with_remedies:
        result["abstention"] = abstention_tally(
            examples.counts, examples.mean_probs, labels, options["abstention_thresholds"]
        )
        result["ensembles"] = {
            size: ensemble_tally(logits, labels, size, options["seed"], options["capacity"], examples.probs64)
            for size in options["ensemble_sizes"]
        }
    return result


def has_remedies(family: str) -> bool:
    """Ensembles and abstention need the same inputs for every run (the family's `same_inputs`). An attack gives
    each run its own adversarial images: a vote or an average over those is no predictor anyone could deploy (an
    attack on the ensemble would be crafted against the ensemble), so attacks get the per-example measures only."""
    return FAMILIES[family].same_inputs if family in FAMILIES else True


def merge(total: dict | None, part: dict) -> dict:
    """The tally of two disjoint example sets: every leaf array added."""
    if total is None:
        return part
    return {
        key: merge(total[key], value) if isinstance(value, dict) else total[key] + value for key, value in part.items()
    }


def options_from(settings: dict[str, Any]) -> dict[str, Any]:
    """The `sheet` settings the per-example stage reads, grouped as its functions take them."""
    return {
        "seed": settings["seed"],
        "ensemble_sizes": sorted(settings["ensemble_sizes"]),
        "abstention_thresholds": sorted(settings["abstention_thresholds"]),
        "arbitrary_self_consistency": settings["arbitrary_self_consistency"],
        "capacity": {
            "tolerance": settings["capacity_tolerance"],
            "max_iterations": settings["capacity_max_iterations"],
        },
    }


def build_per_example(
    metrics: pd.DataFrame,
    rashomon_sets: pd.DataFrame,
    store: PredictionStore,
    settings: dict[str, Any],
    with_selection: bool,
    threads: int = 1,
) -> PerExampleTables:
    """Tally every (set, measured intervention) once, add instances into their summaries, then tabulate.
    `threads`: chunks of examples tallied at once (`tally`); the tables do not depend on it."""
    options = options_from(settings)
    sets = run_sets(rashomon_sets, with_selection)
    reported = reported_interventions(metrics, settings)
    families = intervention_families(metrics)
    groups = {name: members for name, members in aggregates(list(families.index)).items() if name in reported}
    unique = list(dict.fromkeys(runs for _, _, runs in sets))
    union = sorted({run for runs in unique for run in runs})
    # Every measure here reads each class's probability: a family evaluated without its logits (`keep:
    # predictions`) has none to read, so its columns are left out of these tables (the sheet still has them).
    without = {
        name
        for name in reported
        if union and not all(store.has_logits(union[0], instance) for instance in groups.get(name, [name]))
    }
    if without:
        log.info("no logits kept for %s: left out of the per-example tables", ", ".join(sorted(without)))
    reported = {name: family for name, family in reported.items() if name not in without}
    targets: dict[str, list[str]] = {}  # measured instance -> the reported names its tally adds to
    for name in reported:
        for instance in groups.get(name, [name]):
            targets.setdefault(instance, []).append(name)
    position = {run: index for index, run in enumerate(union)}
    totals: dict[tuple, dict] = {}
    n_classes: dict[str, int] = {}
    for instance, names in targets.items() if union else []:
        started = time.perf_counter()
        logits, labels = store.logits(union, instance)
        unconverged = 0
        for runs in unique:
            rows = [position[run] for run in runs]
            # a set of all the runs read is the array itself: no copy of R x N x C
            chosen = logits if rows == list(range(len(logits))) else logits[rows]
            part = tally(chosen, labels, options, has_remedies(families[instance]), threads)
            unconverged += int(part["unconverged"][0])
            for name in names:
                totals[runs, name] = merge(totals.get((runs, name)), part)
        for name in names:
            n_classes[name] = logits.shape[2]
        log.info(
            "%s: %d sets in %.1f s%s",
            instance,
            len(unique),
            time.perf_counter() - started,
            f"; capacity of {unconverged} examples stopped at the iteration cap" if unconverged else "",
        )
    return _tables(sets, reported, totals, n_classes, options)


def _tables(sets, reported: dict[str, str], totals: dict, n_classes: dict[str, int], options) -> PerExampleTables:
    measures, ecdf, ensembles, abstention = [], [], [], []
    for scenario, selection, runs in sets:
        for name, family in reported.items():
            total = totals[runs, name]
            n = float(total["n"][0])
            key = {
                "scenario": scenario,
                "selection": selection,
                "intervention": name,
                "family": family,
                "n_runs": len(runs),
                "n_examples": int(n),
            }
            for measure, entry in PER_EXAMPLE_MEASURES.items():
                count = total[measure]["count"][0]
                measures.append(
                    {**key, "measure": measure, "value": total[measure]["sum"][0] / count if count else np.nan}
                )
                if entry.distributed:
                    shares = total[measure]["ecdf"] / count if count else np.full(ECDF_POINTS, np.nan)
                    ecdf += [
                        {**key, "measure": measure, "threshold": float(t), "share_at_most": float(share)}
                        for t, share in zip(entry.support(n_classes[name]), shares)
                    ]
            if not has_remedies(family):
                continue
            for size, part in total["ensembles"].items():
                ensembles += [{**key, "ensemble_size": size, **row} for row in ensemble_rows(part, n)]
            abstention += [
                {**key, **row} for row in abstention_rows(total["abstention"], n, options["abstention_thresholds"])
            ]
    key = ["scenario", "selection", "intervention", "family", "n_runs", "n_examples"]
    # Named columns keep the tables readable when no run is in any set (every run diverged).
    return PerExampleTables(
        pd.DataFrame(measures, columns=key + ["measure", "value"]),
        pd.DataFrame(ecdf, columns=key + ["measure", "threshold", "share_at_most"]),
        pd.DataFrame(ensembles, columns=key + ["ensemble_size", "n_ensembles", "measure", "value"]),
        pd.DataFrame(abstention, columns=key + ["threshold", "measure", "value"]),
    )
