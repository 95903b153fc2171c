"""The runs' stored test-split predictions, as the summary steps read them: argmax labels per (run, intervention),
read from the per-example logit files once (the sheet), or one intervention's whole logits (the per-example
measures). Pandas/numpy only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from multisheets.interventions.names import WORST_CLASS, WORST_GROUP, aggregates, group_name
from multisheets.sheets.metrics_table import intervention_families


def prediction_files(runs: list[dict[str, str]], paths: list[str | Path]) -> dict[tuple[str, str], Path]:
    """(run id, family) -> logit file, from a list of ``{"run_id", "family"}`` and the files in the same order."""
    if len(runs) != len(paths):
        raise ValueError(f"{len(runs)} (run, family) keys for {len(paths)} prediction files")
    return {(key["run_id"], key["family"]): Path(path) for key, path in zip(runs, paths)}


def prediction_table(runs: list[dict[str, str]], paths: list[str | Path]) -> pd.DataFrame:
    """The logit files a summary step read, one row each: run_id, family, path (tables/prediction_files.csv, so that a
    later step reads the same files, and a reader can find any run's predictions)."""
    files = prediction_files(runs, paths)
    return pd.DataFrame(
        [{"run_id": run_id, "family": family, "path": str(path)} for (run_id, family), path in files.items()]
    )


def stored_labels(stored, intervention: str, test_labels: np.ndarray) -> np.ndarray:
    """The labels an intervention's stored logits answer to: its own (``#labels``, another labelled set), the test
    split's at its ``#indices`` (a subset: attacks, subgroups), or the whole test split's. `stored`: a family's
    logit file, open or read (anything with ``in`` and ``[]``)."""
    if f"{intervention}#labels" in stored:
        return stored[f"{intervention}#labels"]
    if f"{intervention}#indices" in stored:
        return test_labels[stored[f"{intervention}#indices"]]
    return test_labels


class PredictionStore:
    """Argmax predictions and labels per (run, intervention) of the test split, read from the logit files once.

    A family file holds ``<intervention>`` logits and optionally ``<intervention>#indices`` (a subset of the
    test split) or ``<intervention>#labels`` (a different labelled set); otherwise the test split's labels apply.
    """

    def __init__(self, files: dict[tuple[str, str], str | Path], families: dict[str, str], test_labels: np.ndarray):
        """`files`: (run id, family) -> that run's test-split logits of the family (see `prediction_files`)."""
        self.paths = {key: Path(path) for key, path in files.items()}
        self.families, self.test_labels = families, test_labels
        self.groups = aggregates(list(families))
        self.cache: dict[tuple[str, str], dict[str, np.ndarray]] = {}

    def _file(self, run_id: str, intervention: str) -> dict[str, np.ndarray]:
        key = (run_id, self.families[intervention])
        if key not in self.cache:
            # Keep only predicted classes (int16): a study's predictions then fit in memory with hundreds of runs.
            # Evaluation stores them as `<intervention>#predicted` (from full-precision logits); files written
            # before that get the argmax of their float16 logits. Either way every measure reads these.
            with np.load(self.paths[key]) as archive:
                self.cache[key] = {name: archive[name] for name in archive.files if "#" in name}
                for name in archive.files:
                    if "#" not in name and f"{name}#predicted" not in self.cache[key]:
                        predicted = archive[name].astype(np.float32).argmax(1).astype(np.int16)
                        self.cache[key][f"{name}#predicted"] = predicted
            for name, values in self.cache[key].items():
                # int8 where the classes fit (up to 127 of them): half of what a 1000-run study's cache holds
                if name.endswith("#predicted") and values.size and 0 <= values.min() and values.max() <= 127:
                    self.cache[key][name] = values.astype(np.int8)
        return self.cache[key]

    def _predicted(self, run_id: str, intervention: str) -> np.ndarray:
        return self._file(run_id, intervention)[f"{intervention}#predicted"]

    def logits(self, run_ids: list[str], intervention: str) -> tuple[np.ndarray, np.ndarray]:
        """``(R, N, C)`` float16 logits of one measured intervention, read whole (not kept), and the ``(N,)`` labels,
        which every run must share: what the per-example measures read."""
        arrays, labels = [], None
        for run_id in run_ids:
            with np.load(self.paths[(run_id, self.families[intervention])]) as archive:
                arrays.append(archive[intervention])
                own = stored_labels(archive, intervention, self.test_labels)
            if labels is not None and not np.array_equal(own, labels):
                raise ValueError(f"{intervention}: runs were evaluated on different examples ({run_id} differs)")
            labels = own
        return np.stack(arrays), labels

    def has_logits(self, run_id: str, intervention: str) -> bool:
        """Whether a run's file keeps the intervention's logits (`interventions.corruption.keep: predictions` keeps
        only the predicted class and the true class's probability)."""
        with np.load(self.paths[(run_id, self.families[intervention])]) as archive:
            return intervention in archive.files

    def has(self, intervention: str) -> bool:
        return intervention in self.families or intervention in self.groups

    def predictions(self, run_ids: list[str], intervention: str) -> np.ndarray:
        """(R, N) predicted labels of the given runs; a summary concatenates its instances."""
        parts = self.groups.get(intervention, [intervention])
        return np.stack([np.concatenate([self._predicted(run_id, part) for part in parts]) for run_id in run_ids])

    def labels(self, run_id: str, intervention: str) -> np.ndarray:
        return np.concatenate(
            [self._instance_labels(run_id, part) for part in self.groups.get(intervention, [intervention])]
        )

    def _instance_labels(self, run_id: str, intervention: str) -> np.ndarray:
        return stored_labels(self._file(run_id, intervention), intervention, self.test_labels)

    def correct(self, run_id: str, intervention: str) -> np.ndarray:
        return self._predicted(run_id, intervention) == self._instance_labels(run_id, intervention)

    def scores(self, run_ids: list[str], intervention: str, table: pd.DataFrame):
        """Per-image scores of the runs and which runs share images, for `uncertainty.sampling_noise_variance`.

        An instance: 0/1 correctness. A summary over instances of the same images (``corruption_mean``): each
        image's mean correctness over the instances, so an image counts once. ``worst_class`` / ``worst_group``:
        each run's correctness on its own worst class / group (NaN elsewhere), runs grouped by which one it is.
        Returns ``(scores, subsets)``, or None where the store lacks the predictions.
        """
        if intervention == WORST_CLASS and self.has("clean"):
            worst = table.loc[run_ids, "worst_class"].to_numpy()
            scores = np.stack(
                [np.where(self.test_labels == c, self.correct(run, "clean"), np.nan) for run, c in zip(run_ids, worst)]
            )
            return scores, worst
        if intervention == WORST_GROUP:
            groups = table.loc[run_ids, "worst_group"].astype(str).to_numpy()
            scores = np.full((len(run_ids), len(self.test_labels)), np.nan)
            for row, (run, group) in enumerate(zip(run_ids, groups)):
                name = group_name(group)
                scores[row, self._file(run, name)[f"{name}#indices"]] = self.correct(run, name)
            return scores, groups
        if not self.has(intervention):
            return None
        parts = self.groups.get(intervention, [intervention])
        # summed one instance at a time: the (R, I, N) stack of corruption_mean is 950,000 values a run
        hits = np.zeros((len(run_ids), len(self._instance_labels(run_ids[0], parts[0]))))
        for row, run in enumerate(run_ids):
            for part in parts:
                hits[row] += self.correct(run, part)
        return hits / len(parts), None


def stored_predictions(runs: list[dict[str, str]], paths: list[str | Path], metrics, test_labels: np.ndarray):
    """The store a summary step reads: ``{"run_id", "family"}`` of each logit file in `paths`, and the metrics
    table, whose measured rows say which family's file holds each intervention."""
    families = intervention_families(metrics[~metrics["derived"].astype(bool)]).to_dict()
    return PredictionStore(prediction_files(runs, paths), families, test_labels)
