"""A study: base hyperparameters, dimensions to vary, seeds -> the list of runs, each with a stable `run_id`.

A run's id names only what differs from the base plus the seed (``lr=0.05__seed=3``; base runs are
``base__seed=3``), so adding a dimension to a study never renames the runs it already had.
"""

from __future__ import annotations

import itertools
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from multisheets.study.config import HYPERPARAMETER_DEFAULTS, STUDY_DEFAULTS
from multisheets.study.sample import flips_labels, sample_size, samples_training_split

# Single underscores are fine inside a value (`crop_flip`); double ones separate the parts of a run id.
RUN_ID_VALUE = re.compile(r"^[A-Za-z0-9.+\-]+(_[A-Za-z0-9.+\-]+)*$")


@dataclass(frozen=True)
class Run:
    """One trained model: its id, the dimension values that differ from the base, and its full hyperparameters."""

    run_id: str
    seed: int
    changed: dict[str, Any] = field(hash=False)
    hyperparameters: dict[str, Any] = field(hash=False)
    seed_streams: str

    @property
    def setting(self) -> str:
        """The run id without the seed: runs sharing a setting differ only by seed."""
        return self.run_id.rsplit("__seed=", 1)[0]

    @property
    def seeds(self) -> dict[str, int]:
        stream = self.setting if self.seed_streams == "independent" and self.changed else None
        return derive_seeds(self.seed, self.hyperparameters, stream)


def format_value(value: Any) -> str:
    """Readable, filesystem-safe text for a hyperparameter value in a run id."""
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, float):
        text = format(value, "g")
    else:
        text = str(value)
    if not RUN_ID_VALUE.match(text):
        raise ValueError(
            f"value {value!r} cannot appear in a run id (allowed: letters, digits, '.', '+', '-', "
            "and single '_' between them)"
        )
    return text


def checkpoint_label(init: str) -> str:
    """How a run id names a checkpoint to start from: its file name without the suffix (``resnet50-0676ba61`` for
    torchvision's ``resnet50-0676ba61.pth``); two files of one name in a study are refused as one run id."""
    return init if init == "scratch" else Path(init).name.split(".")[0]


# Hyperparameters whose values a run id names by a label rather than as written.
RUN_ID_LABELS = {"init": checkpoint_label}


def make_run_id(changed: dict[str, Any], seed: int) -> str:
    """`key=value` pairs of what differs from the base (in the order of the study's dimensions), then the seed."""
    parts = [
        f"{key}={format_value(RUN_ID_LABELS.get(key, lambda value: value)(value))}" for key, value in changed.items()
    ] or ["base"]
    return "__".join(parts + [f"seed={int(seed)}"])


# A run's random streams, in the order they are spawned from its seed; the last two were added later and exist
# only for runs that draw from them (a sample of the training split, flipped labels: `train.sample`).
RANDOM_STREAMS = ("init_seed", "data_seed", "aug_seed", "sample_seed", "label_noise_seed")
DRAWN_ONLY_WHEN = {"sample_seed": samples_training_split, "label_noise_seed": flips_labels}


def derive_seeds(seed: int, hyperparameters: dict[str, Any], stream: str | None = None) -> dict[str, int]:
    """Split a run's seed into independent init / data-order / augmentation (and, where drawn, training-sample and
    label-noise) seeds.

    Each defaults to a stream spawned from `seed` (and from `stream`, a setting's name, when settings draw
    independent streams; base runs keep the plain seed's streams either way), so that varying only e.g.
    `init_seed` while holding the others fixed isolates one source of randomness.
    """
    entropy = int(seed) if stream is None else [int(seed), zlib.crc32(stream.encode())]
    # generate_state(k) begins with generate_state(3): the later streams leave the first three as they were.
    spawned = np.random.SeedSequence(entropy).generate_state(len(RANDOM_STREAMS))
    seeds = {}
    for name, default in zip(RANDOM_STREAMS, spawned):
        if name in DRAWN_ONLY_WHEN and not DRAWN_ONLY_WHEN[name](hyperparameters):
            continue  # a stream the run does not draw from is not part of it (nor of its training key)
        explicit = hyperparameters.get(name)
        seeds[name] = int(default) if explicit is None else int(explicit)
    return seeds


def expand_study(config: dict[str, Any]) -> list[Run]:
    """All runs of a study, base runs first, in a stable order.

    One-at-a-time (default): each dimension's values are varied around the base. With ``grid: true`` every
    combination of dimension values is a setting. A value equal to the base's is the base run itself, so it
    is not trained twice.
    """
    config = STUDY_DEFAULTS | config
    base = {**HYPERPARAMETER_DEFAULTS, **(config.get("base") or {})}
    dimensions: dict[str, list] = config.get("dimensions") or {}
    for name, values in dimensions.items():
        if name not in HYPERPARAMETER_DEFAULTS:
            raise ValueError(f"dimensions.{name}: not a hyperparameter (known: {sorted(HYPERPARAMETER_DEFAULTS)})")
        if len(set(map(repr, values))) != len(values):
            raise ValueError(f"dimensions.{name}: repeated values {values}")
    seeds = config["seeds"]
    if len(set(seeds)) != len(seeds):
        raise ValueError(
            f"seeds: repeated values {sorted(seed for seed in set(seeds) if seeds.count(seed) > 1)} "
            "(each seed is one run per setting; list it once)"
        )

    if config["grid"]:
        names = list(dimensions)
        settings = [dict(zip(names, combo)) for combo in itertools.product(*dimensions.values())]
    else:
        settings = [{}] + [{name: value} for name, values in dimensions.items() for value in values]

    runs: dict[str, Run] = {}
    for assignment in settings:
        changed = {name: value for name, value in assignment.items() if value != base[name]}
        hyperparameters = {**base, **changed}
        for seed in seeds:
            run_id = make_run_id(changed, seed)
            if run_id in runs and runs[run_id].hyperparameters != hyperparameters:
                # Values are written with %g in run ids (stable, readable), so values closer than 6 significant
                # digits would share one id and one setting would silently never be trained.
                raise ValueError(
                    f"{runs[run_id].changed} and {changed} both give run id {run_id!r}: use values "
                    "that differ within 6 significant digits (checkpoints in `init`: files of different names)"
                )
            runs.setdefault(run_id, Run(run_id, int(seed), changed, hyperparameters, config["seed_streams"]))
    return list(runs.values())


def run_dimension(run: Run) -> str | None:
    """The dimension a one-at-a-time run varies (None for a base run; 'grid' when several differ)."""
    if not run.changed:
        return None
    if len(run.changed) > 1:
        return "grid"
    return next(iter(run.changed))


def check_batch_sizes(runs: list[Run], train_images: int) -> None:
    """Every run must fill at least one batch: training drops the ragged last batch of each epoch."""
    too_large = [
        run for run in runs if run.hyperparameters["batch_size"] > sample_size(run.hyperparameters, train_images)
    ]
    if too_large:
        first = too_large[0].hyperparameters
        more = f" and {len(too_large) - 1} more runs" if len(too_large) > 1 else ""
        images = f"{train_images} training images"
        if samples_training_split(first):
            images = f"{sample_size(first, train_images)} images its train_fraction draws of the {images}"
        raise ValueError(
            f"batch_size {first['batch_size']} is larger than the {images} ({too_large[0].run_id}{more}): lower "
            "batch_size, or add data"
        )


def run_records(runs: list[Run], dimensions: list[str], model_keys: dict[str, str]) -> list[dict[str, Any]]:
    """One record per run for the runs table: what it varied and its value of every study dimension, for joining
    onto the metrics, and its model key (the `model-<key>.pt` its numbers come from). `dimension` is empty for the
    base setting's runs."""
    return [
        {"run_id": run.run_id, "setting": run.setting, "seed": run.seed, "dimension": run_dimension(run) or ""}
        | {name: run.hyperparameters[name] for name in dimensions}
        | {"model_key": model_keys[run.run_id]}
        for run in runs
    ]
