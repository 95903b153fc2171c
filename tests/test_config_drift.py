"""One source for each allowed value and default. The schema (src/multisheets/study/config.schema.yaml) fills every key
a study leaves out, so it is what a user's study resolves to, and the study's own defaults are read from it. The
registries' names (architectures, sources, families) are added to it; the other allowed values are written in it,
and these tests fail when one is added, removed or changed on one side only, as for the defaults of library
functions that also take a setting.
"""

import hashlib
import inspect
import json

import pytest
import yaml

from multisheets.data import resize, synthetic
from multisheets.interventions import attacks, autoattack, corruptions
from multisheets.interventions import evaluate as evaluation
from multisheets.measures import per_example, per_model, uncertainty
from multisheets.models import inference
from multisheets.models.runtime import PRECISIONS
from multisheets.models.zoo import TEST_TIME_AUGMENTATIONS
from multisheets.plan.identity import ADDED_FAMILY_SETTINGS, training_key
from multisheets.plan.schema import REGISTERED, study_schema, validate_study
from multisheets.sheets.selection import RULES, SELECTION_SPLIT, Specification
from multisheets.study.config import HYPERPARAMETER_DEFAULTS, RUNTIME_DEFAULTS, SCHEMA, SEED_STREAMS, runtime_settings
from multisheets.study.recipes import RECIPES
from multisheets.study.runs import expand_study
from multisheets.train.augment import AUGMENTATIONS
from multisheets.train.init import FINETUNE
from multisheets.train.optim import OPTIMIZERS, SCHEDULES

STUDY_FILES = ["config.yaml", "config/smoke.yaml", "config/cifar10-fast.yaml", "config/cifar10-jpeg-small.yaml"]


def resolved_study(path: str) -> dict:
    """A study file as the workflow sees it: validated, with the schema's defaults filled in."""
    config = yaml.safe_load(open(path))
    validate_study(config)
    return config


def training_keys(config: dict) -> dict[str, str]:
    return {run.run_id: training_key(run, runtime_settings(config)["precision"]) for run in expand_study(config)}


# Training keys name every trained model: a change to how a study's hyperparameters resolve would retrain
# every user's models. Pinned from the code before the config's defaults were given a single source.
SMOKE_TRAINING_KEYS = {
    "base__seed=0": "512b3bf6a5fc",
    "base__seed=1": "63512ad7dfb9",
    "base__seed=2": "a0a077c24f52",
    "lr=0.02__seed=0": "33e478a50f85",
    "lr=0.02__seed=1": "93fe2a7d1b77",
    "lr=0.02__seed=2": "90099d7d1ac9",
    "lr=0.1__seed=0": "6fe108773d3d",
    "lr=0.1__seed=1": "d2256d3f2144",
    "lr=0.1__seed=2": "9544e4956fbd",
    "weight_decay=0__seed=0": "d6e1b569d79c",
    "weight_decay=0__seed=1": "f11c9dc3fb97",
    "weight_decay=0__seed=2": "014815796653",
    "weight_decay=0.005__seed=0": "2b2c0352a1d1",
    "weight_decay=0.005__seed=1": "9d7cf0c01438",
    "weight_decay=0.005__seed=2": "3c9a61137d74",
}
# (number of runs, digest of every run's key) of each study shipped with the workflow
STUDY_KEY_DIGESTS = {
    "config.yaml": (55, "d629fbf79c7864e6"),
    "config/smoke.yaml": (15, "8efc0a0238709c63"),  # five seeds since "The finding in one minute"
    "config/cifar10-fast.yaml": (200, "b60282bac8aaf684"),
    "config/cifar10-jpeg-small.yaml": (15, "72b0c651b04875ad"),
}


def test_smoke_study_keeps_its_training_keys():
    # The smoke study now has five seeds of base, lr=0.1 and weight_decay=0.005 (it had three seeds and two values
    # per dimension): every run it kept keeps its key, so its trained models are reused.
    assert kept_keys(training_keys(resolved_study("config/smoke.yaml")))


def kept_keys(keys: dict[str, str]) -> bool:
    """Whether the nine pinned runs the smoke study still has keep their keys."""
    kept = {run: key for run, key in SMOKE_TRAINING_KEYS.items() if run in keys}
    return len(kept) == 9 and {run: keys[run] for run in kept} == kept


@pytest.mark.parametrize("path", STUDY_FILES)
def test_shipped_studies_keep_their_training_keys(path):
    keys = training_keys(resolved_study(path))
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]
    assert (len(keys), digest) == STUDY_KEY_DIGESTS[path]


# --- allowed values and defaults --------------------------------------------------------------------------------

HYPERPARAMETERS = "$defs/hyperparameters/properties"


def schema_node(path: str) -> dict:
    """The schema node at a `/`-separated path of keys (``properties`` spelt out where the schema has it)."""
    node = SCHEMA
    for key in path.split("/"):
        node = node[key]
    return node


def schema_enums(node, path=()) -> dict[str, list]:
    """Every enum in the schema by its path."""
    found = {}
    if isinstance(node, dict):
        if "enum" in node:
            found["/".join(path)] = node["enum"]
        for key, child in node.items():
            found |= schema_enums(child, path + (key,))
    return found


def default_of(function, parameter: str):
    return inspect.signature(function).parameters[parameter].default


# Every enum written in the schema -> the library's allowed values. A new enum in the schema must be added here,
# so that it cannot go without a library counterpart. (The registries' names are not written there: see below.)
LIBRARY_ENUMS = {
    f"{HYPERPARAMETERS}/optimizer": list(OPTIMIZERS),
    f"{HYPERPARAMETERS}/schedule": list(SCHEDULES),
    f"{HYPERPARAMETERS}/augment": list(AUGMENTATIONS),
    f"{HYPERPARAMETERS}/tta": list(TEST_TIME_AUGMENTATIONS),
    f"{HYPERPARAMETERS}/recipe": list(RECIPES),
    f"{HYPERPARAMETERS}/finetune": list(FINETUNE),
    "properties/seed_streams": list(SEED_STREAMS),
    "properties/runtime/properties/precision": list(PRECISIONS),
    "properties/train/properties/precision": list(PRECISIONS),  # deprecated place of runtime.precision
    "properties/interventions/properties/corruption/properties/types/items": list(corruptions.CORRUPTIONS),
    "properties/selection/items/properties/keep": list(RULES),
    "properties/interventions/properties/corruption/properties/keep": list(evaluation.KEEP),
    "properties/data/properties/resize": list(resize.RESIZE_METHODS),
    "properties/interventions/properties/adversarial/properties/autoattack_version": list(autoattack.VERSIONS),
}

# Schema defaults -> the default of a library function that takes the same setting, where it has one (functions
# also called directly, not only by the workflow, which passes every value explicitly). The study's own defaults
# (hyperparameters, runtime, grid, seed streams) are read from the schema (study.config): they have one source.
LIBRARY_DEFAULTS = {
    f"properties/data/properties/synthetic/properties/{name}": default_of(synthetic.make_synthetic, name)
    for name in ("num_classes", "image_size", "train_per_class", "test_per_class", "seed")
} | {
    "properties/data/properties/resize": default_of(resize.resize_images, "method"),
    "properties/evaluate/properties/batch_size": inference.EVAL_BATCH_SIZE,
    "properties/interventions/properties/corruption/properties/types": list(corruptions.CORRUPTIONS),
    "properties/interventions/properties/corruption/properties/severities": list(corruptions.SEVERITIES),
    "properties/interventions/properties/corruption/properties/keep": default_of(evaluation.evaluate_model, "keep"),
    "properties/interventions/properties/adversarial/properties/restarts": default_of(attacks.pgd, "restarts"),
    "properties/interventions/properties/adversarial/properties/autoattack_version": default_of(
        autoattack.autoattack, "version"
    ),
    "properties/interventions/properties/privacy/properties/seed": default_of(per_model.membership_inference, "seed"),
    "properties/sheet/properties/confidence": default_of(uncertainty.variance_components, "confidence"),
    "properties/sheet/properties/capacity_tolerance": default_of(per_example.rashomon_capacity, "tolerance"),
    "properties/sheet/properties/capacity_max_iterations": default_of(per_example.rashomon_capacity, "max_iterations"),
    "properties/selection/items/properties/metric": Specification.metric,
    "properties/selection/items/properties/split": Specification.split,
}


def test_family_settings_added_later_default_to_their_neutral_value():
    """A setting left out of the evaluation key at its neutral value must default to it, or every study that does
    not set it would get new evaluation keys (and evaluate everything again)."""
    families = schema_node("properties/interventions/properties")
    for name, neutral in ADDED_FAMILY_SETTINGS.items():
        defaults = [
            spec["properties"][name]["default"] for spec in families.values() if name in spec.get("properties", {})
        ]
        assert defaults and all(default == neutral for default in defaults), name


def test_every_schema_enum_has_a_library_counterpart():
    assert set(schema_enums(SCHEMA)) == set(LIBRARY_ENUMS)


def test_registered_names_are_the_allowed_values_and_written_nowhere_else():
    """A new architecture, source or family is one registry entry: the schema takes the names from the registry."""
    schema = study_schema()
    for location, names in REGISTERED.items():
        node, raw = schema, SCHEMA
        for part in location:
            node, raw = node[part], raw[part]
        assert node["enum"] == names() and len(set(names())) == len(names())
        assert "enum" not in raw, "/".join(location)
    assert REGISTERED[("properties", "dimensions", "propertyNames")]() == list(HYPERPARAMETER_DEFAULTS)


@pytest.mark.parametrize("path", sorted(LIBRARY_ENUMS))
def test_schema_and_library_allow_the_same_values(path):
    allowed = schema_node(path)["enum"]
    assert len(set(allowed)) == len(allowed), f"{path}: repeated values"
    assert sorted(allowed) == sorted(LIBRARY_ENUMS[path])


@pytest.mark.parametrize("path", sorted(LIBRARY_DEFAULTS))
def test_schema_and_library_default_to_the_same_value(path):
    assert schema_node(path)["default"] == LIBRARY_DEFAULTS[path]


def test_library_values_within_the_schema_bounds():
    severities = schema_node("properties/interventions/properties/corruption/properties/severities")["items"]
    assert (severities["minimum"], severities["maximum"]) == (min(corruptions.SEVERITIES), max(corruptions.SEVERITIES))
    assert SELECTION_SPLIT == Specification.split  # the only split selection accepts is the default one
    # the same restrictions in runtime and in train, where its keys used to be
    runtime, train = schema_node("properties/runtime/properties"), schema_node("properties/train/properties")
    for name in RUNTIME_DEFAULTS:
        restriction = {key: value for key, value in runtime[name].items() if key not in ("default", "description")}
        assert {
            key: value for key, value in train[name].items() if key not in ("deprecated", "description")
        } == restriction


# --- runtime keys under `train`, their place before `runtime` ---------------------------------------------------


def test_runtime_keys_left_under_train_are_used_with_a_warning_naming_the_new_place():
    config = {"train": {"runs_per_job": 4, "device": "cpu", "precision": "fp32"}, "runtime": dict(RUNTIME_DEFAULTS)}
    with pytest.warns(FutureWarning) as warned:
        settings = runtime_settings(config)
    assert [str(warning.message).split(" (")[0] for warning in warned] == [
        "train.device is deprecated and will be refused in a later version: move it to runtime.device",
        "train.precision is deprecated and will be refused in a later version: move it to runtime.precision",
    ]
    assert settings == RUNTIME_DEFAULTS | {"device": "cpu", "precision": "fp32"}
    # the same study written the new way resolves to the same settings, hence the same training keys
    moved = {"train": {"runs_per_job": 4}, "runtime": RUNTIME_DEFAULTS | {"device": "cpu", "precision": "fp32"}}
    assert runtime_settings(moved) == settings


def test_runtime_keys_set_differently_in_both_places_are_refused():
    config = {"train": {"precision": "fp32"}, "runtime": RUNTIME_DEFAULTS | {"precision": "bf16"}}
    with pytest.raises(ValueError, match=r"train.precision is deprecated: set runtime.precision only"):
        runtime_settings(config)


def test_an_old_study_keeps_its_training_keys(tmp_path):
    old = yaml.safe_load(open("config/smoke.yaml"))
    old["train"] |= old.pop("runtime")
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(old))
    with pytest.warns(FutureWarning, match="runtime.device"):
        assert kept_keys(training_keys(resolved_study(str(path))))


def test_config_readme_has_a_section_for_every_top_level_key():
    """config/README.md explains the study file section by section: a new top-level key needs its paragraph."""
    schema = SCHEMA
    headings = [line for line in open("config/README.md") if line.startswith("### ")]
    documented = {key for line in headings for key in line.replace(",", " ").replace("`", " ").split()[1:]}
    assert set(schema["properties"]) - documented == set()
