"""Fabricate a trained study's per-run outputs without training anything: what the aggregation benchmark reads.

A study is `config.yaml` with `seeds: [0 .. S-1]` (so R = 11 S runs with its 10 dimension values), every key the
schema fills in, and the same plan the rules make (`StudyPlan` mirrors `rules/common.smk`: run ids, model and
evaluation keys, file paths). Each run gets, for every evaluated (family, split), the two files evaluation writes:
``predictions/<split>/<family>-<key>.npz`` (float16 logits per intervention, ``#predicted`` int16 argmax of the
float32 logits, ``#indices`` / ``#labels`` where the family stores them) and ``metrics/<split>/<family>-<key>.csv``
(`evaluate.metric_row`'s columns of those logits, computed in float32 by `metric_row` here). Only ``results/data/<key>/
{val,test}_labels.npy`` of the data is written: the aggregation rules read nothing else of it.

The logits model a real population: each image has a difficulty shared by every run and every intervention of it
(so runs agree on most images and err on the same hard ones), a confusable class, a per-intervention shift of the
margin (severity, attack budget), a per-setting and per-run accuracy offset, and per-run noise. With the
defaults, clean test accuracy is about 92 % with a few % pairwise disagreement.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from multisheets.interventions.names import AUTOATTACKS, is_attack
from multisheets.interventions.registry import planned_interventions
from multisheets.plan import paths
from multisheets.plan.identity import data_key, evaluation_key, family_identity, model_key, training_key
from multisheets.plan.schema import validate_study
from multisheets.sheets.selection import parse_specifications, selection_families
from multisheets.study.config import runtime_settings
from multisheets.study.runs import expand_study, run_records

CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"
NUM_CLASSES = 10
SETTINGS_PER_SEED = 11  # config.yaml: the base setting and 10 dimension values, each with every seed
CLEAN_MARGIN = 8.0  # mean logit margin of the true class over the confusable one, in units of the run noise
MARGIN_SPREAD = 5.5  # std of that margin over images: most are easy for every run, a few are contested
SHIFT_SCALE = 2.5  # margin lost per unit of `margin_shift`


def study_config(runs: int, name: str = "scaling", n_test: int = 10_000, n_val: int = 5_000) -> dict:
    """config.yaml with enough seeds for about `runs` runs (a multiple of 11), validated and filled in."""
    config = yaml.safe_load(CONFIG.read_text())
    config["study"] = name
    config["seeds"] = list(range(max(1, round(runs / SETTINGS_PER_SEED))))
    config["data"]["val_size"] = n_val
    config["fabricated"] = {"n_test": n_test}  # not a schema key: removed before validation, kept for the plan
    fabricated = config.pop("fabricated")
    validate_study(config)
    config["fabricated"] = fabricated
    return config


@dataclass
class StudyPlan:
    """What `rules/common.smk` computes from a study that the aggregation rules' inputs and params need."""

    config: dict

    def __post_init__(self):
        config = self.config
        self.runs = expand_study(config)
        self.data_key = data_key(config["data"])
        precision = runtime_settings(config)["precision"]
        self.model_keys = {run.run_id: model_key(training_key(run, precision), self.data_key) for run in self.runs}
        self.run_records = run_records(self.runs, list(config["dimensions"]), self.model_keys)
        self.families = list(dict.fromkeys(["clean"] + config["interventions"]["families"]))
        chosen = selection_families(parse_specifications(config["selection"]))
        self.splits = {family: ["test"] + (["val"] if family in chosen else []) for family in self.families}

    def family_settings(self, family: str) -> dict:
        return self.config["interventions"].get(family, {})

    def evaluation_key(self, run_id: str, split: str, family: str) -> str:
        identity = family_identity(family, self.family_settings(family))
        return evaluation_key(self.model_keys[run_id], family, split, identity)

    def evaluations(self, splits=("val", "test")) -> list[tuple[str, str, str]]:
        """(run, split, family) in the order of common.smk's `evaluations`."""
        return [
            (run.run_id, split, family)
            for run in self.runs
            for family in self.families
            for split in self.splits[family]
            if split in splits
        ]

    def predictions_file(self, run_id: str, split: str, family: str) -> str:
        return paths.predictions_file(run_id, split, family, self.evaluation_key(run_id, split, family))

    def metrics_file(self, run_id: str, split: str, family: str) -> str:
        return paths.metrics_file(run_id, split, family, self.evaluation_key(run_id, split, family))

    def data_file(self, name: str) -> str:
        return str(paths.data_dir(self.data_key) / name)

    def sheet_prediction_runs(self) -> list[dict[str, str]]:
        return [{"run_id": run_id, "family": family} for run_id, _, family in self.evaluations(("test",))]

    def sheet_predictions(self) -> list[str]:
        return [self.predictions_file(*evaluation) for evaluation in self.evaluations(("test",))]


def margin_shift(intervention: str) -> float:
    """How much an intervention lowers the mean margin (0 for clean): severities and budgets hurt more."""
    if intervention.startswith("corruption="):
        kind, severity = intervention.removeprefix("corruption=").split("/severity=")
        return 0.35 * int(severity) + 0.6 * (zlib.crc32(kind.encode()) % 100) / 100
    if "/eps=" in intervention:
        text = intervention.split("/eps=")[1]
        # in k/255 units; an L2 budget of 0.5 hurts CIFAR models about as much as L-inf 16/255
        l2 = is_attack(intervention, "pgd_l2") or is_attack(intervention, "autoattack_l2")
        eps = float(text) * 32 if l2 else float(text.removesuffix("/255"))
        return 3.6 * min(1.5, eps / 4) + (0.8 if is_attack(intervention, "fgsm") else 0.0)
    return {"shift=cifar10_1": 0.7}.get(intervention, 0.0)


class Population:
    """Images and their shared difficulty; `logits` draws one run's logits of one intervention."""

    def __init__(self, n_test: int, n_val: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.labels = {split: rng.integers(0, NUM_CLASSES, n) for split, n in (("test", n_test), ("val", n_val))}
        self.difficulty = {split: rng.standard_normal(len(y)) for split, y in self.labels.items()}
        # the class each image is confused with: never its own
        self.confused = {
            split: (y + rng.integers(1, NUM_CLASSES, len(y))) % NUM_CLASSES for split, y in self.labels.items()
        }
        # a pool of noise read at a random offset per (run, intervention): drawing 10^10 normals for a 1000-run
        # study would take longer than aggregating it
        self.noise = rng.standard_normal(4 * n_test * NUM_CLASSES).astype(np.float32)
        self.extra = {}  # own labelled sets (shift, membership) by intervention: labels, difficulty, confused

    def own_set(self, intervention: str, labels: np.ndarray, easier: np.ndarray | float = 0.0):
        rng = np.random.default_rng(zlib.crc32(intervention.encode()))
        difficulty = rng.standard_normal(len(labels)) + easier
        confused = (labels + rng.integers(1, NUM_CLASSES, len(labels))) % NUM_CLASSES
        self.extra[intervention] = (labels, difficulty, confused)

    def logits(self, rng, split: str, intervention: str, offset: float, index=None) -> tuple[np.ndarray, np.ndarray]:
        """float32 (n, C) logits and labels: -4 everywhere (errors go to the confusable class), 0 on the
        confusable class, the margin on the true class (shared difficulty, lowered by the intervention, raised by
        the run's offset), plus run noise."""
        if intervention in self.extra:
            labels, difficulty, confused = self.extra[intervention]
        else:
            labels, difficulty, confused = self.labels[split], self.difficulty[split], self.confused[split]
            if index is not None:
                labels, difficulty, confused = labels[index], difficulty[index], confused[index]
        n = len(labels)
        start = int(rng.integers(0, len(self.noise) - n * NUM_CLASSES))
        logits = self.noise[start : start + n * NUM_CLASSES].reshape(n, NUM_CLASSES) - 4.0
        rows = np.arange(n)
        logits[rows, confused] += 4.0
        margin = CLEAN_MARGIN + MARGIN_SPREAD * difficulty - SHIFT_SCALE * margin_shift(intervention) + offset
        logits[rows, labels] += 4.0 + margin
        return logits, labels


def metric_row(intervention, logits, labels, extra=None) -> dict:
    """`evaluate.metric_row`'s columns, from one float32 log-softmax instead of its three float64 ones (a 1000-run
    study has 10^6 rows to fabricate); tests/test_benchmark.py checks it against the real one."""
    logp = logits - logits.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    predicted = logits.argmax(1)
    confidence = np.exp(logp.max(axis=1)).astype(np.float64)
    hit = predicted == labels
    bins = np.minimum((confidence * 15).astype(np.int64), 14)
    gap = np.abs(np.bincount(bins, hit, 15) - np.bincount(bins, confidence, 15))
    total = np.bincount(labels, minlength=NUM_CLASSES)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(total > 0, np.bincount(labels, hit, NUM_CLASSES) / np.maximum(total, 1), np.nan)
    worst = int(np.nanargmin(per_class))
    row = {
        "intervention": intervention,
        "n": len(labels),
        "accuracy": float(hit.mean()),
        "metric": "accuracy",
        "loss": float(-logp[np.arange(len(labels)), labels].astype(np.float64).mean()),
        "mean_confidence": float(confidence.mean()),
        "ece": float(gap[np.bincount(bins, minlength=15) > 0].sum() / len(labels)),
        "worst_class_accuracy": float(np.nanmin(per_class)),
        "best_class_accuracy": float(np.nanmax(per_class)),
        "worst_class": worst,
        "worst_class_n": int((labels == worst).sum()),
    }
    if extra:
        if "accuracy" in extra:
            row["classifier_accuracy"] = row["accuracy"]
        row |= extra
    return row


def fabricate(workdir: str | Path, config: dict, seed: int = 0) -> StudyPlan:
    """Write every run's prediction and metric files, and the data's label files, under `workdir`."""
    from multisheets.measures.per_model import membership_inference

    workdir = Path(workdir)
    plan = StudyPlan(config)
    n_test, n_val = config["fabricated"]["n_test"], config["data"]["val_size"]
    population = Population(n_test, n_val, seed)
    for split, labels in population.labels.items():
        (workdir / plan.data_file(f"{split}_labels.npy")).parent.mkdir(parents=True, exist_ok=True)
        np.save(workdir / plan.data_file(f"{split}_labels.npy"), labels)
    adversarial = plan.family_settings("adversarial")
    draw = np.random.default_rng(adversarial.get("seed", 0)).choice(n_test, min(adversarial.get("n", 0), n_test), False)
    # as AdversarialFamily: AutoAttack attacks the first autoattack_n images of the same draw
    subsets = {False: np.sort(draw), True: np.sort(draw[: adversarial.get("autoattack_n") or len(draw)])}
    members = min(plan.family_settings("privacy").get("n", 0), n_test)
    membership_labels = np.random.default_rng(1).integers(0, NUM_CLASSES, 2 * members)
    # training members are fitted a little more confidently than held-out images: what the attack detects
    population.own_set("membership", membership_labels, np.r_[np.full(members, 0.15), np.zeros(members)])
    population.own_set("shift=cifar10_1", np.random.default_rng(2).integers(0, NUM_CLASSES, min(2000, n_test)))
    is_member = np.r_[np.ones(members, bool), np.zeros(members, bool)]

    for number, run in enumerate(plan.runs):
        rng = np.random.default_rng([seed, number])
        # settings differ in accuracy by a few %, seeds of one setting by a few tenths of a %
        offset = 2.0 * (zlib.crc32(run.setting.encode()) % 1000 / 1000 - 0.5) + 0.08 * rng.standard_normal()
        for family in plan.families:
            for split in plan.splits[family]:
                arrays, rows = {}, []
                for intervention in planned_interventions(family, plan.family_settings(family), split):
                    index = subsets[intervention.startswith(AUTOATTACKS)] if family == "adversarial" else None
                    source = "membership" if family == "privacy" else intervention
                    logits, labels = population.logits(rng, split, source, offset, index)
                    extra = None
                    if family == "privacy":  # as PrivacyFamily: the attack thresholds the loss or the confidence
                        logp = logits - logits.max(1, keepdims=True)
                        logp -= np.log(np.exp(logp).sum(1, keepdims=True))
                        score, higher = {
                            "mia_loss": (-logp[np.arange(len(labels)), labels], False),
                            "mia_confidence": (np.exp(logp.max(1)), True),
                        }[intervention]
                        score = score.astype(np.float64)
                        attack = membership_inference(score[is_member], score[~is_member], 0, higher)
                        extra = {"accuracy": attack["attack_accuracy"], "metric": "attack_accuracy"}
                        extra["n"] = int(attack["n_eval"])
                    # the keys evaluate_model writes: float16 logits, the float32 argmax, indices or own labels
                    arrays[intervention] = logits.astype(np.float16)
                    arrays[f"{intervention}#predicted"] = logits.argmax(1).astype(np.int16)
                    if index is not None:
                        arrays[f"{intervention}#indices"] = index
                    if family in ("privacy", "shift"):
                        arrays[f"{intervention}#labels"] = labels
                    rows.append(metric_row(intervention, logits, labels, extra))
                write_evaluation(workdir, plan, run.run_id, family, split, arrays, rows)
    return plan


def write_evaluation(workdir, plan, run_id, family, split, arrays, rows) -> None:
    """The two files `evaluate.evaluate_model` writes for one run, family and split (same keys, columns, order)."""
    table = pd.DataFrame(rows)
    table.insert(0, "split", split)
    table.insert(0, "family", family)
    table.insert(0, "run_id", run_id)
    table["status"] = "completed"
    prediction_path = workdir / plan.predictions_file(run_id, split, family)
    metric_path = workdir / plan.metrics_file(run_id, split, family)
    prediction_path.parent.mkdir(parents=True, exist_ok=True)
    metric_path.parent.mkdir(parents=True, exist_ok=True)
    with open(prediction_path, "wb") as handle:  # as evaluate._save_arrays: np.savez, uncompressed
        np.savez(handle, **arrays)
    table.to_csv(metric_path, index=False)
