"""The config schema is the one source of allowed values and defaults; the library must agree with it.

Snakemake fills every key a study leaves out from workflow/schemas/config.schema.yaml, so the schema is what a
user's study resolves to. Library constants (allowed names, and defaults of functions also used directly) mirror
it, and these tests fail when a value is added, removed or changed on one side only.
"""

import hashlib
import json

import pytest
import yaml
from snakemake.utils import validate

from multisheets.model_cache import training_key
from multisheets.study import expand_study, runtime_settings

SCHEMA_PATH = "workflow/schemas/config.schema.yaml"
STUDY_FILES = ["config.yaml", "config/smoke.yaml", "config/cifar10-fast.yaml", "config/cifar10-jpeg-small.yaml"]


def resolved_study(path: str) -> dict:
    """A study file as the workflow sees it: validated, with the schema's defaults filled in."""
    config = yaml.safe_load(open(path))
    validate(config, SCHEMA_PATH)
    return config


def training_keys(config: dict) -> dict[str, str]:
    return {run.run_id: training_key(run, runtime_settings(config)["precision"]) for run in expand_study(config)}


# Training keys name every trained model: a change to how a study's hyperparameters resolve would retrain
# every user's models. Pinned from the code before the config's defaults were given a single source.
SMOKE_TRAINING_KEYS = {
    "base__seed=0": "512b3bf6a5fc", "base__seed=1": "63512ad7dfb9", "base__seed=2": "a0a077c24f52",
    "lr=0.02__seed=0": "33e478a50f85", "lr=0.02__seed=1": "93fe2a7d1b77", "lr=0.02__seed=2": "90099d7d1ac9",
    "lr=0.1__seed=0": "6fe108773d3d", "lr=0.1__seed=1": "d2256d3f2144", "lr=0.1__seed=2": "9544e4956fbd",
    "weight_decay=0__seed=0": "d6e1b569d79c", "weight_decay=0__seed=1": "f11c9dc3fb97",
    "weight_decay=0__seed=2": "014815796653",
    "weight_decay=0.005__seed=0": "2b2c0352a1d1", "weight_decay=0.005__seed=1": "9d7cf0c01438",
    "weight_decay=0.005__seed=2": "3c9a61137d74",
}
# (number of runs, digest of every run's key) of each study shipped with the workflow
STUDY_KEY_DIGESTS = {
    "config.yaml": (55, "d629fbf79c7864e6"),
    "config/smoke.yaml": (15, "d0ae3ef00fae7fb3"),
    "config/cifar10-fast.yaml": (200, "b60282bac8aaf684"),
    "config/cifar10-jpeg-small.yaml": (15, "72b0c651b04875ad"),
}


def test_smoke_study_keeps_its_training_keys():
    assert training_keys(resolved_study("config/smoke.yaml")) == SMOKE_TRAINING_KEYS


@pytest.mark.parametrize("path", STUDY_FILES)
def test_shipped_studies_keep_their_training_keys(path):
    keys = training_keys(resolved_study(path))
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]
    assert (len(keys), digest) == STUDY_KEY_DIGESTS[path]
