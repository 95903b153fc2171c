"""A study's settings that are not its runs: the schema every study file is checked against, the defaults it
gives every key (read from it, so they have one source), how settings share random numbers, and `runtime`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import yaml

# Every key of a study with its type, allowed values and default (the registries' names are added where a study is
# validated: `plan.schema`).
SCHEMA_FILE = Path(__file__).with_name("config.schema.yaml")
SCHEMA: dict[str, Any] = yaml.safe_load(SCHEMA_FILE.read_text())


def _defaults(properties: dict[str, Any]) -> dict[str, Any]:
    return {name: spec.get("default") for name, spec in properties.items()}


# Hyperparameters a run accepts and their defaults (`width: null` is the model's own default width).
HYPERPARAMETER_DEFAULTS: dict[str, Any] = _defaults(SCHEMA["$defs"]["hyperparameters"]["properties"])
# The other study keys expand_study reads. `seeds` has none: how many runs a setting gets is the study's choice.
STUDY_DEFAULTS: dict[str, Any] = {key: SCHEMA["properties"][key]["default"] for key in ("grid", "seed_streams")}
# How training and evaluation jobs run (study key `runtime`). Of these only precision changes a model's weights, so
# a run's training key includes it and nothing else here.
RUNTIME_DEFAULTS: dict[str, Any] = _defaults(SCHEMA["properties"]["runtime"]["properties"])

# How runs of different settings draw their random numbers (study key `seed_streams`).
SEED_STREAMS = {
    "independent": "every setting draws its own init / data-order / augmentation streams from (seed, setting): "
    "runs of different settings are independent, as multiplicity across settings assumes",
    "common": "runs with the same seed share init / data-order / augmentation streams across settings (common random "
    "numbers): per-dimension trends are paired, but runs of different settings are correlated and the "
    "'all' scenario understates cross-setting disagreement",
}


def seed_streams_note(seed_streams: str) -> str:
    """One line for sheets and logs saying how settings share random numbers."""
    return f"Seed streams: {seed_streams}: {SEED_STREAMS[seed_streams]}."


def runtime_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The study's `runtime` section, with the keys a study still sets under `train`, their place until `runtime`
    was split off it (they set evaluation jobs too, which `train` did not say).

    Such a study keeps working, and each key it sets there is used, with a warning naming its new place; one set
    in both places to different values is refused, unless `runtime` holds its default (the schema filled it in).
    """
    settings = RUNTIME_DEFAULTS | config.get("runtime", {})
    train = config.get("train", {})
    for key in RUNTIME_DEFAULTS:
        if key not in train:
            continue
        if settings[key] not in (train[key], RUNTIME_DEFAULTS[key]):
            raise ValueError(
                f"train.{key}: {train[key]!r} and runtime.{key}: {settings[key]!r} disagree; "
                f"train.{key} is deprecated: set runtime.{key} only"
            )
        # FutureWarning, not DeprecationWarning: it is meant for users, and Python hides the latter by default.
        # Raised from this line, so a process shows each message once however many readers call this.
        warnings.warn(
            f"train.{key} is deprecated and will be refused in a later version: move it to "
            f"runtime.{key} (it sets evaluation jobs as well as training); using {train[key]!r}",
            FutureWarning,
            stacklevel=1,
        )
        settings[key] = train[key]
    return settings


def number_as_text_hint(value: Any) -> str:
    """A hint for a number that arrived as text. PyYAML reads `1e-3` as a string (`1.0e-3` is a float); a number
    YAML would have read as one (`0.1`, `5`) arrived as text from the command line, whose `--config` hands
    Snakemake the text of a nested value."""
    if not isinstance(value, str):
        return ""
    try:
        float(value)
    except ValueError:
        return ""
    if isinstance(yaml.safe_load(value), str):
        return f" (YAML read {value} as text: write it with a decimal point, e.g. 1.0e-3)"
    return f" ({value} arrived as text, as nested values given with --config do: write the study in a file)"
