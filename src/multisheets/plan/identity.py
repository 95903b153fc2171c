"""What each result depends on, written as short keys into its file name.

Every file the workflow computes is named after a *key*: a digest of everything that determines its content. A
changed study gives the files it changes new names, so Snakemake finds them missing and computes them, while files
whose key did not change are kept. Files of an earlier version of the study stay where they are, so going back to
it finds them again instead of recomputing them. Nothing here relies on Snakemake's records of earlier parameters
(`.snakemake/`): whatever the history of a results folder, the files a study reads are the ones of the study as it
is now.

=================  ==========================================================  ======================================
key                digest of                                                   names
=================  ==========================================================  ======================================
data key           the source and the settings its arrays depend on, split     ``results/data/<data key>/``
training key       resolved hyperparameters, derived seeds, precision          with the data key, a run's model:
                                                                               ``model-<training key>-<data key>.pt``
evaluation key     the model, the family, the split, the family's settings     ``predictions/<split>/<family>-<key>``
                   (and a groups CSV's content)
corruption key     the data key and how the corrupted sets are made            ``results/corruptions/<key>/``
shift key          the data key and one extra test set's source                ``results/shift/<key>/<name>.npz``
=================  ==========================================================  ======================================

Summary steps (tables, sheets, figures) write fixed paths; each also writes a *manifest* named after the key of
what it depends on, which the workflow's default target asks for (see `manifest` in rules/common.smk). Settings
that change how a job runs but not what it computes (device, compile, job sizes, threads, resources,
`evaluate.batch_size`) are in no key, so changing them reruns nothing.

Torch-free and cheap: the workflow computes every key while it builds the DAG.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from multisheets.data.sources import source_of
from multisheets.infra.digest import digest, file_digest, streamed_file_digest
from multisheets.infra.files import write_json
from multisheets.interventions.names import asks_for_autoattack
from multisheets.study.runs import DRAWN_ONLY_WHEN, Run

# Bump a version when the code that computes a kind of file changes what it computes: every such file is then
# computed again (a model is looked up in the model cache first, under its training key).
TRAINING_KEY_VERSION = 1
DATA_KEY_VERSION = 1
EVALUATION_KEY_VERSION = 1
CORRUPTION_KEY_VERSION = 1

# Hyperparameters added after version 1, each with the value that trains exactly as the code did before it
# existed. At that value a hyperparameter is left out of the identity, so adding one to a study's code retrains
# none of its models; any other value is a new model. (Add `name: neutral value` here with the new default.)
ADDED_HYPERPARAMETERS: dict[str, Any] = {
    "init": "scratch",
    "finetune": "full",
    "train_fraction": 1.0,
    "bootstrap": False,
    "label_noise": 0.0,
    "sample_seed": None,
    "label_noise_seed": None,
}
# Family settings added after version 1, with the value that evaluates exactly as before they existed: left out of
# the evaluation key at that value, so adding one re-evaluates nothing.
ADDED_FAMILY_SETTINGS: dict[str, Any] = {
    "keep": "logits",
    # AutoAttack (adversarial): off by default, so a study that does not ask for it keeps its evaluation keys.
    "autoattack_eps": [],
    "autoattack_l2_eps": [],
    "autoattack_version": "standard",
    "autoattack_n": None,
}

AUTOATTACK_SETTINGS = ("autoattack_version", "autoattack_n")  # read only where AutoAttack has budgets
# `data` settings of every source added after version 1, with the value that prepares exactly the arrays of before
# they existed: left out of the data key at that value, so adding one changes no data key (and so no model key).
ADDED_DATA_SETTINGS: dict[str, Any] = {"image_size": None}
# Settings that only act together with an added data setting away from its neutral value: how images are resized
# is part of the data only where they are resized (another method on unresized images is the same data).
DEPENDENT_DATA_SETTINGS: dict[str, tuple[str, ...]] = {"image_size": ("resize",)}

# The `sheet` settings each summary step reads. Each step is given only these, so reading another one fails
# loudly, and a setting changed here reruns only the steps that read it.
SHEET_SETTINGS = {
    "multiplicity_sheet": ("epsilon", "confidence", "expected_range_k", "instances", "epsilon_curve"),
    "seed_population": ("confidence", "expected_range_k", "instances"),
    "per_example_measures": (
        "instances",
        "seed",
        "ensemble_sizes",
        "abstention_thresholds",
        "arbitrary_self_consistency",
        "capacity_tolerance",
        "capacity_max_iterations",
    ),
}


def without_neutral(values: dict[str, Any], added: dict[str, Any]) -> dict[str, Any]:
    """`values` less the settings added after version 1 that hold their neutral value (see ADDED_*)."""
    return {name: value for name, value in values.items() if name not in added or value != added[name]}


# --- models ----------------------------------------------------------------------------------------------------


def training_identity(run: Run, precision: str) -> dict[str, Any]:
    """What determines a run's weights on given data (its run id does not: a setting may be named differently).
    A checkpoint to start from counts by its content: the same file elsewhere is the same model, a file replaced
    under the same path is a new one."""
    hyperparameters = without_neutral(run.hyperparameters, ADDED_HYPERPARAMETERS)
    for stream, drawn in DRAWN_ONLY_WHEN.items():
        if not drawn(run.hyperparameters):  # a fixed seed of a stream the run never draws from changes nothing
            hyperparameters.pop(stream, None)
    if "init" in hyperparameters:
        hyperparameters["init"] = f"sha256:{checkpoint_digest(hyperparameters['init'])}"
    return {
        "hyperparameters": hyperparameters,
        "seeds": run.seeds,
        "precision": precision,
        "version": TRAINING_KEY_VERSION,
    }


def training_key(run: Run, precision: str) -> str:
    return digest(training_identity(run, precision))


def checkpoint_digest(path: str | Path) -> str:
    """The content digest of a checkpoint file (`init`), computed once per version of the file: the workflow asks
    for it for every run that starts from it while it plans."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"init: {path} is not a file (a checkpoint to start from, or `scratch`)")
    status = path.stat()
    return _large_file_digest(str(path.resolve()), status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _large_file_digest(path: str, size: int, mtime_ns: int) -> str:
    del size, mtime_ns  # part of the cache key only: a changed file is read again
    return streamed_file_digest(path)


def model_key(training: str, data: str) -> str:
    """A trained model: the run's training key on the study's data (``<training key>-<data key>``)."""
    return f"{training}-{data}"


# --- data and prepared sets ----------------------------------------------------------------------------------------


def data_settings(data: dict[str, Any]) -> dict[str, Any]:
    """The `data` settings the prepared arrays depend on: the source, its own settings (its registry entry says
    which), how the validation split is drawn, and the image size with its resizing method where the study resizes.
    The data stage reads only these (and where to download to)."""
    settings = {"source": data["source"]} | {
        name: data[name] for name in (*source_of(data).settings, "val_size", "split_seed")
    }
    added = without_neutral(
        {name: data.get(name, neutral) for name, neutral in ADDED_DATA_SETTINGS.items()}, ADDED_DATA_SETTINGS
    )
    for name in list(added):
        added |= {dependent: data[dependent] for dependent in DEPENDENT_DATA_SETTINGS.get(name, ())}
    return settings | added


def data_key(data: dict[str, Any]) -> str:
    return digest({"data": data_settings(data), "version": DATA_KEY_VERSION})


def corruption_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """How corrupted splits are made: the seed, and whether they are generated (with which frost photographs) or
    read from an official download. Not `types` or `severities`: each type is its own file, of all severities."""
    return {name: settings[name] for name in ("seed", "official_dir", "frost_dir")}


def corruption_key(data: str, settings: dict[str, Any]) -> str:
    return digest({"data": data, "corruptions": corruption_settings(settings), "version": CORRUPTION_KEY_VERSION})


def shift_key(data: str, name: str, source: str | None) -> str:
    """One extra test set: its source (None: downloaded, CIFAR-10.1) mapped onto the study's data's classes."""
    return digest({"data": data, "name": name, "source": source})


# --- evaluations ---------------------------------------------------------------------------------------------------


def evaluation_key(model: str, family: str, split: str, settings: dict[str, Any]) -> str:
    """One run's evaluation under one family on one split. `settings`: the family's settings as the study gives
    them (see `family_identity`)."""
    return digest(
        {"model": model, "family": family, "split": split, "settings": settings, "version": EVALUATION_KEY_VERSION}
    )


def family_identity(family: str, settings: dict[str, Any]) -> dict[str, Any]:
    """What a family's results depend on among its settings: all of them, and for subgroups the content of the
    groups CSV too (an edited file under the same name is other groups). AutoAttack's settings only count where a
    study lists budgets for it: without them they change nothing the family computes."""
    settings = without_neutral(settings, ADDED_FAMILY_SETTINGS)
    if family == "adversarial" and not asks_for_autoattack(settings):
        settings = {name: value for name, value in settings.items() if name not in AUTOATTACK_SETTINGS}
    if family == "subgroups" and settings.get("groups_csv"):
        return settings | {"groups_csv_content": file_digest(settings["groups_csv"])}
    return settings


# --- summary steps -------------------------------------------------------------------------------------------------


def manifest_name(step: str, content: dict[str, Any]) -> str:
    """A summary step's manifest file name: ``<step>-<key>.json``, the key the digest of what it depends on."""
    return f"{step}-{digest(content)}.json"


def write_manifest(path: str | Path, content: dict[str, Any]) -> None:
    """Write a step's manifest and remove the step's earlier ones.

    A summary step writes fixed paths (its tables), so a changed study must make it older than its inputs: a new
    manifest does, as a new file. Removing the earlier manifests makes that hold also when a study goes back to an
    earlier version, whose manifest would otherwise still be there, older than the tables of the version between.
    """
    path = Path(path)
    step = path.name.rsplit("-", 1)[0]
    write_json(path, content)
    for earlier in path.parent.glob(f"{step}-*.json"):
        if earlier != path and earlier.name.rsplit("-", 1)[0] == step:
            earlier.unlink()
