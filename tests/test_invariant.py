"""A changed study never reports old models under new labels. Whatever the history of a results folder, after the
study's command its tables are those of a fresh run of the same study, and runs whose training key did not change
are not retrained. Through the real `snakemake` command, on tiny synthetic studies:

- Every key of the config schema, generated from the schema (so a key added later is covered without anyone
  listing it): change it on a finished study and check with a dry run that Snakemake reruns exactly what that key
  changes and everything downstream of it, no less (a stale result) and no more (a needless rerun).
  `WHAT_A_CHANGE_RERUNS` says, key by key, what that is; a key it does not cover fails.
- One key of each kind of identity (a hyperparameter, precision, seed streams, the data, an evaluation setting, a
  sheet setting), and going back to an earlier study after Snakemake's own records were deleted: run it, and
  compare every table byte for byte with a fresh run of the changed study.
"""

from __future__ import annotations

import copy
import fnmatch
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from helpers import write_imagefolder
from test_workflow import copy_workflow, snakemake

from multisheets.data.synthetic import make_synthetic
from multisheets.interventions.registry import FAMILIES
from multisheets.plan.schema import study_schema, validate_study
from multisheets.study.runs import expand_study

SCHEMA = study_schema()

pytestmark = [pytest.mark.integration]


# --- the keys of the schema ------------------------------------------------------------------------------------


def schema_keys(node: dict = SCHEMA, prefix: str = "") -> dict[str, dict]:
    """Every leaf key of the schema, as ``a.b.c`` (``selection[].keep`` for the keys of a list's items)."""
    keys = {}
    for name, spec in node.get("properties", {}).items():
        spec = SCHEMA["$defs"][spec["$ref"].rsplit("/", 1)[1]] if "$ref" in spec else spec
        path = f"{prefix}{name}"
        if "properties" in spec:
            keys |= schema_keys(spec, f"{path}.")
        elif spec.get("type") == "array" and "properties" in spec.get("items", {}):
            keys |= schema_keys(spec["items"], f"{path}[].")
        else:
            keys[path] = spec
    return keys


SCHEMA_KEYS = schema_keys()


def get(config: dict, key: str) -> Any:
    """A key's value (None where the study leaves it out); ``selection[].<key>``: of the first item."""
    node: Any = config
    for part in key.split("."):
        node = node[part[:-2]][0] if part.endswith("[]") else node.get(part)
    return node


def changed(config: dict, key: str, value: Any) -> dict:
    """A copy of a study with one key set (the first item of a list of objects, for ``selection[].<key>``)."""
    config = copy.deepcopy(config)
    *parents, last = key.split(".")
    node = config
    for part in parents:
        node = node[part[:-2]][0] if part.endswith("[]") else node.setdefault(part, {})
    node[last] = value
    return config


def alternative(spec: dict, value: Any) -> Any:
    """Another valid value of a key, from its schema: what a user might change it to."""
    types = spec.get("type")
    types = types if isinstance(types, list) else [types]
    if "enum" in spec:
        return next(option for option in spec["enum"] if option != value)
    if "boolean" in types:
        return not value
    if "integer" in types:
        if value is None:
            return max(spec.get("minimum", 1), 1)
        return value + 1 if value + 1 <= spec.get("maximum", value + 1) else value - 1
    if "number" in types:
        doubled = value * 2 if value else 0.5
        too_large = doubled > spec.get("maximum", doubled) or doubled >= spec.get("exclusiveMaximum", np.inf)
        return value / 2 if too_large else doubled
    if "array" in types:
        items = spec.get("items", {})
        if "enum" in items:
            return value[:-1] if len(value) > 1 else value + [next(o for o in items["enum"] if o not in value)]
        if items.get("type") == "integer":
            return value + [max(value) + 1]
        return value[:-1] if len(value) > 1 else value + [value[-1] * 2]
    if types == ["string"] and "pattern" not in spec:
        return f"{value}2"
    raise LookupError("no generic value: give one in OTHER_VALUES")


# --- what a change must rerun ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """The rules (by kind: a rule name without its job suffix) a change makes stale first; everything downstream of
    them must rerun too. `runs`: whose training and evaluation jobs rerun, when those are downstream: every run's
    (`all`), the base setting's (`base`), those of the other settings (`varied`), or only runs the study did not
    have (`new`)."""

    first: tuple[str, ...] = ()
    runs: str = "all"


@dataclass(frozen=True)
class Refused:
    """The changed study is refused before any job, with this in the message."""

    message: str


NOTHING = Change()
TRAINING = Change(("train",))
SHEET = Change(("multiplicity_sheet",))
PER_EXAMPLE = Change(("per_example_measures",))
FIGURES = ("findings", "sheet_heatmap", "dimension_trends", "epsilon_curves", "disagreement_matrix", "selection_effect")
FIGURES += ("per_example_distributions", "ensemble_sizes", "abstention", "gde", "seed_convergence")
SHEET_AND_SEEDS = Change(("multiplicity_sheet", "seed_population"))

CORRUPTION_EVALUATIONS = ("evaluate_corruption_test", "evaluate_corruption_val")

# First match wins. The finished study evaluates every family, and selects on every family that has a selection
# split, so every family is evaluated on val too except shift.
WHAT_A_CHANGE_RERUNS: list[tuple[str, Change | Refused]] = [
    # How jobs run, not what they compute: nothing reruns. (Synthetic data has no path.)
    ("runtime.device", NOTHING),
    ("runtime.compile", NOTHING),
    ("runtime.deterministic", NOTHING),
    ("train.runs_per_job", NOTHING),
    ("train.device", NOTHING),
    ("train.compile", NOTHING),
    ("train.deterministic", NOTHING),
    ("resources.*", NOTHING),
    ("evaluate.batch_size", NOTHING),
    ("data.path", NOTHING),
    # What a model is. Runs that vary lr set their own, so the base's lr is not theirs.
    ("base.lr", Change(("train",), runs="base")),
    # The seed of a stream no run draws from (no training sample, no label noise): the same models.
    ("base.sample_seed", NOTHING),
    ("base.label_noise_seed", NOTHING),
    ("base.finetune", Refused("linear_probe needs a checkpoint")),  # the base starts from scratch
    ("base.*", TRAINING),
    ("runtime.precision", TRAINING),
    ("train.precision", TRAINING),
    ("seed_streams", Change(("train",), runs="varied")),  # base runs draw the same streams either way
    # How images are resized, in a study that does not resize them (image_size null): the same data.
    ("data.resize", NOTHING),
    ("data.*", Change(("prepare_data",))),
    # Which runs there are.
    ("seeds", Change(("train",), runs="new")),
    ("dimensions", Change(("train",), runs="new")),
    ("grid", Change(("collect_metrics",))),  # a grid of one dimension has no base runs: fewer runs, none new
    # How runs are evaluated.
    ("interventions.families", Change(("collect_metrics",))),  # one fewer (shift): the tables change
    (
        "interventions.corruption.types",
        Change(("corrupt_split", "evaluate_corruption_test", "evaluate_corruption_val")),
    ),
    ("interventions.corruption.severities", Change(("evaluate_corruption_test", "evaluate_corruption_val"))),
    # What an evaluation keeps of each corrupted image: the evaluations, not the corrupted sets.
    ("interventions.corruption.keep", Change(("evaluate_corruption_test", "evaluate_corruption_val"))),
    ("interventions.corruption.*", Change(("corrupt_split",))),
    # AutoAttack's targeted attacks need 4 classes, this study has 3: refused before any job (the real snakemake
    # command runs the preflight check). Its other settings mean nothing without its budgets.
    ("interventions.adversarial.autoattack_*eps", Refused("targeted attacks need at least 4 classes")),
    ("interventions.adversarial.autoattack_*", NOTHING),
    ("interventions.adversarial.*", Change(("evaluate_adversarial_test", "evaluate_adversarial_val"))),
    ("interventions.privacy.*", Change(("evaluate_privacy_test", "evaluate_privacy_val"))),
    ("interventions.subgroups.*", Change(("evaluate_subgroups_test", "evaluate_subgroups_val"))),
    ("interventions.shift.*", Change(("prepare_shift", "evaluate_shift_test"))),
    # How runs are summarised.
    # The study's folder (results/<study>/): every summary step, and nothing per run.
    ("study", Change(("collect_metrics", "multiplicity_sheet", "seed_population", "per_example_measures", *FIGURES))),
    ("sheet.instances", Change(("multiplicity_sheet", "seed_population", "per_example_measures"))),
    ("sheet.epsilon", Change(("multiplicity_sheet", "sheet_heatmap"))),  # ε is in the heatmap's title
    ("sheet.confidence", SHEET_AND_SEEDS),
    ("sheet.expected_range_k", SHEET_AND_SEEDS),
    ("sheet.epsilon_curve", SHEET),
    ("sheet.*", PER_EXAMPLE),  # ensembles, abstention, capacity, arbitrariness
    ("selection[].split", Refused("The test split is for reporting only")),
    ("selection[].*", SHEET),
]


def what_a_change_reruns(key: str) -> Change | Refused:
    for pattern, change in WHAT_A_CHANGE_RERUNS:
        if fnmatch.fnmatchcase(key, pattern):
            return change
    raise LookupError(f"say in WHAT_A_CHANGE_RERUNS what a change of {key} reruns")


# --- the finished study ----------------------------------------------------------------------------------------

TINY_DATA = {"num_classes": 3, "image_size": 16, "train_per_class": 60, "test_per_class": 10}


def groups_csv(path: Path, split_at: int) -> Path:
    rows = [f"{i},{'a' if i < split_at else 'b'},test" for i in range(30)]
    rows += [f"{i},{'a' if i % 3 else 'b'},val" for i in range(30)]
    path.write_text("index,group,split\n" + "\n".join(rows) + "\n")
    return path


def every_family_study(workdir: Path) -> dict:
    """A tiny study that evaluates every family, on val too wherever a family has a selection split."""
    shifted, classes = make_synthetic(**TINY_DATA | {"train_per_class": 1, "test_per_class": 2, "seed": 9})[:2]
    shift = write_imagefolder(workdir / "shift", {"test": shifted["test"]}, classes)
    return {
        "study": "invariant",
        "data": {"source": "synthetic", "path": "", "val_size": 30, "synthetic": TINY_DATA},
        "base": {"model": "cnn", "width": 4, "epochs": 1, "batch_size": 16, "lr": 0.05, "warmup_epochs": 0},
        "dimensions": {"lr": [0.02]},
        "seeds": [0, 1],
        "runtime": {"device": "cpu"},
        "interventions": {
            "families": ["clean", "corruption", "adversarial", "privacy", "subgroups", "shift"],
            "corruption": {"types": ["fog"], "severities": [1]},
            "adversarial": {"n": 4, "fgsm_eps": [2], "linf_eps": [1], "l2_eps": [0.25], "steps": 1},
            "privacy": {"n": 4},
            "subgroups": {"groups_csv": str(groups_csv(workdir / "groups.csv", 12))},
            "shift": {"imagefolders": {"resampled": str(shift)}},
        },
        "sheet": {"epsilon": 0.5},
        "selection": [
            {"intervention": "clean", "keep": "top_fraction", "value": 0.5},
            {"intervention": "corruption=fog/severity=1", "keep": "at_least", "value": 0.0},
            {"intervention": "pgd_linf/eps=1/255", "keep": "at_least", "value": 0.0},
            {"intervention": "mia_loss", "keep": "at_most", "value": 1.0},
            {"intervention": "worst_group", "keep": "at_least", "value": 0.0},
        ],
    }


def other_values(workdir: Path) -> dict[str, Any]:
    """Values for the keys whose schema gives no generic alternative (paths, patterns, maps), and for keys where
    the generic one would not be a change a user makes."""
    (empty := workdir / "empty").mkdir(exist_ok=True)
    other_shift = shutil.copytree(workdir / "shift", workdir / "shift-copy", dirs_exist_ok=True)
    return {
        "study": "invariant-renamed",  # another folder of results/
        "runtime.device": "auto",  # this machine: the CPU either way
        "train.device": "cpu",
        "train.precision": "fp32",  # where it is no longer read from (runtime.precision: auto)
        "data.path": "anything",
        "base.init": str(next((workdir / "results/runs/base__seed=0").glob("model-*.pt"))),  # fine-tune a finished run
        "dimensions": {"lr": [0.02, 0.03]},
        "interventions.families": ["clean", "corruption", "adversarial", "privacy", "subgroups"],
        "interventions.corruption.official_dir": str(empty),
        "interventions.corruption.frost_dir": str(empty),
        "interventions.subgroups.groups_csv": str(groups_csv(workdir / "other-groups.csv", 20)),
        "interventions.shift.imagefolders": {"resampled": str(other_shift)},
        "interventions.adversarial.autoattack_eps": [8],  # off ([]) by default: no generic other value
        "interventions.adversarial.autoattack_l2_eps": [0.5],
        "resources.gpu_model": "a100",
        "selection[].intervention": "worst_class",
        "selection[].metric": "loss",
        "selection[].split": "test",
    }


def resolved(config: dict) -> dict:
    """A study with the schema's defaults filled in, as the workflow sees it."""
    config = copy.deepcopy(config)
    validate_study(config)
    return config


# --- what a dry run schedules ------------------------------------------------------------------------------------

RUN_FILE = re.compile(r"results/runs/([^/]+)/")
PER_JOB = re.compile(r"^(train|evaluate_(?:" + "|".join(FAMILIES) + r")_(?:test|val))_")


def kind(rule: str) -> str:
    """A rule's kind: its name without its training job (`train_<job>`, `evaluate_<family>_<split>_<job>`)."""
    match = PER_JOB.match(rule)
    return match[1] if match else rule


def scheduled(output: str) -> dict[str, set[str]]:
    """Rule kind -> run ids of the per-run files its scheduled jobs write (empty for other rules)."""
    jobs: dict[str, set[str]] = {}
    rule = None
    for line in output.splitlines():
        if match := re.match(r"^(?:local)?rule (\S+):$", line):
            rule = kind(match[1])
            jobs.setdefault(rule, set())
        elif rule and line.startswith("    output: "):
            jobs[rule] |= set(RUN_FILE.findall(line))
    return jobs


def downstream(rulegraph: str) -> dict[str, set[str]]:
    """Rule kind -> every kind downstream of it, from `snakemake --rulegraph` (DOT)."""
    labels = dict(re.findall(r'^\s*(\d+)\[label = "([^"]+)"', rulegraph, flags=re.M))
    edges: dict[str, set[str]] = {}
    for source, target in re.findall(r"^\s*(\d+) -> (\d+)", rulegraph, flags=re.M):
        edges.setdefault(kind(labels[source]), set()).add(kind(labels[target]))
    closure = {}
    for start in {kind(label) for label in labels.values()}:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        closure[start] = seen
    return closure


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished every-family study: the work directory, its config, its runs and its rule graph."""
    workdir = copy_workflow(tmp_path_factory.mktemp("finished"))
    config = every_family_study(workdir)
    (workdir / "study.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "--cores", "2", "--configfile", "study.yaml")
    graph = snakemake(workdir, "--rulegraph", "--configfile", "study.yaml").stdout
    runs = {path.name for path in (workdir / "results/runs").iterdir()}
    return workdir, config, runs, downstream(graph)


@dataclass
class DryRun:
    value: Any
    study: dict
    result: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def dry_runs(finished) -> dict[str, DryRun | Exception]:
    """For every schema key: the finished study with that key changed, and its dry run. Two at a time (a dry run
    is one busy process), so the sweep over all keys takes about a minute."""
    workdir, config, _, _ = finished
    others, current = other_values(workdir), resolved(config)

    def dry_run(key: str) -> DryRun | Exception:
        try:
            value = others[key] if key in others else alternative(SCHEMA_KEYS[key], get(current, key))
        except LookupError as error:
            return error
        study = changed(config, key, value)
        name = "changed_" + re.sub(r"[^A-Za-z0-9]+", "_", key) + ".yaml"  # not study.yaml for key `study`
        (workdir / name).write_text(yaml.safe_dump(study))
        result = snakemake(workdir, "--dry-run", "--nolock", "--cores", "2", "--configfile", name, check=False)
        return DryRun(value, study, result)

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(SCHEMA_KEYS, pool.map(dry_run, SCHEMA_KEYS)))


@pytest.mark.parametrize("key", sorted(SCHEMA_KEYS))
def test_a_changed_key_reruns_what_it_changes_and_nothing_else(finished, dry_runs, key):
    _, config, runs, graph = finished
    expected = what_a_change_reruns(key)
    if isinstance(dry_runs[key], Exception):
        raise dry_runs[key]
    value, study, result = dry_runs[key].value, dry_runs[key].study, dry_runs[key].result
    assert value != get(resolved(config), key), f"{key}: {value!r} is no change"
    text = result.stdout + result.stderr
    if isinstance(expected, Refused):
        assert result.returncode != 0 and expected.message in text, text[-3000:]
        return
    assert result.returncode == 0, text[-3000:]
    jobs = scheduled(result.stdout)
    kinds = set().union(*(graph[first] | {first} for first in expected.first)) if expected.first else set()
    assert set(jobs) == kinds, f"{key} = {value!r}: reran {sorted(jobs)}, expected {sorted(kinds)}"
    rerun = {run for per_run in jobs.values() for run in per_run}
    if rerun:
        which = {
            "all": lambda run: True,
            "base": lambda run: run.startswith("base__"),
            "varied": lambda run: not run.startswith("base__"),
            "new": lambda run: run not in runs,
        }[expected.runs]
        study_runs = {run.run_id for run in expand_study(resolved(study))}
        assert rerun == {run for run in study_runs if which(run)}, f"{key} = {value!r}: reran runs {sorted(rerun)}"


def test_another_core_count_reruns_nothing(finished):
    """Not a key but a command-line choice: `--cores` sets how many jobs and threads run, never what they compute
    (under `runtime.deterministic` not even in the last bit; tests/test_resume.py compares the weights)."""
    workdir = finished[0]
    result = snakemake(workdir, "--dry-run", "--nolock", "--cores", "1", "--configfile", "study.yaml")
    assert scheduled(result.stdout) == {}, result.stdout[-3000:]


def test_every_rule_kind_is_downstream_of_the_data(finished):
    """The sweep's expectations are closures over this graph: make sure it is the study's whole graph."""
    _, _, _, graph = finished
    evaluations = {k for k in graph if k.startswith("evaluate_")}
    assert len(evaluations) == 11  # six families on test, all but shift on val
    assert set(graph["prepare_data"]) >= evaluations | {"train", "corrupt_split", "prepare_shift", *FIGURES}


# --- real runs: the tables of a fresh run -------------------------------------------------------------------------


def small_study(**changes: Any) -> dict:
    """Four runs (two settings, two seeds), clean and adversarial, selected on an attack; deterministic on one
    thread, so that two runs of the same study give the same bytes."""
    config = {
        "study": "fresh",
        "data": {"source": "synthetic", "path": "", "val_size": 30, "synthetic": TINY_DATA},
        "base": {"model": "cnn", "width": 4, "epochs": 1, "batch_size": 16, "lr": 0.05, "warmup_epochs": 0},
        "dimensions": {"lr": [0.02]},
        "seeds": [0, 1],
        "runtime": {"device": "cpu", "deterministic": True},
        "resources": {"cpu_threads": 1},
        "interventions": {
            "families": ["clean", "adversarial"],
            "adversarial": {"n": 8, "fgsm_eps": [2], "linf_eps": [1], "l2_eps": [0.25], "steps": 1},
        },
        "sheet": {"epsilon": 0.5},
        "selection": [{"intervention": "pgd_linf/eps=1/255", "keep": "top_fraction", "value": 0.75}],
    }
    for key, value in changes.items():
        config = changed(config, key, value)
    return config


TABLES = ("collect_metrics", "multiplicity_sheet", "per_example_measures")  # the summary steps that write tables


def run_study(workdir: Path, config: dict) -> subprocess.Popen:
    (workdir / "study.yaml").write_text(yaml.safe_dump(config))
    return subprocess.Popen(
        ["snakemake", *TABLES, "--cores", "1", "--configfile", "study.yaml"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(*processes: subprocess.Popen) -> None:
    for process in processes:
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, output[-4000:]


def tables(workdir: Path) -> dict[str, bytes]:
    """Every table and sheet, and the manifests naming what they were computed from."""
    return {
        str(path.relative_to(workdir / "results")): path.read_bytes()
        for folder in ("tables", "sheets", "manifests")
        for path in sorted((workdir / "results").glob(f"*/{folder}/*"))  # results/<study>/<folder>/
    }


def cached_models(workdir: Path) -> dict[str, int]:
    """Models in the model cache with their inodes: a retrained run is a new entry."""
    return {path.name: path.stat().st_ino for path in (workdir / "results/model_cache").glob("*.pt")}


def assert_same_results(workdir: Path, fresh: Path) -> None:
    assert tables(workdir) == tables(fresh)
    # The per-run files the manifests name: same files, same predictions.
    fresh_files = sorted(
        p.relative_to(fresh) for p in (fresh / "results/runs").rglob("*") if p.suffix in (".npz", ".csv")
    )
    for relative in fresh_files:
        if relative.suffix == ".csv":
            assert (workdir / relative).read_bytes() == (fresh / relative).read_bytes(), relative
        else:
            with np.load(workdir / relative) as ours, np.load(fresh / relative) as theirs:
                assert sorted(ours.files) == sorted(theirs.files)
                assert all(np.array_equal(ours[k], theirs[k], equal_nan=True) for k in ours.files), relative


@pytest.fixture(scope="module")
def small_finished(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("small"))
    finish(run_study(workdir, small_study()))
    return workdir


# key -> (new value, runs whose models the change retrains)
ONE_KEY_OF_EACH_KIND = {
    "base.lr": (0.04, "base"),  # the README's example; the runs that vary lr keep their own
    "seed_streams": ("common", "varied"),
    "data.synthetic.image_size": (20, "all"),  # models of 16 px images were once restored onto 20 px ones
    "interventions.adversarial.linf_eps": ([1, 2], "none"),
    "sheet.epsilon": (0.05, "none"),
}


@pytest.mark.parametrize("key", sorted(ONE_KEY_OF_EACH_KIND))
def test_a_changed_study_has_the_tables_of_a_fresh_run(small_finished, tmp_path, key):
    value, retrained = ONE_KEY_OF_EACH_KIND[key]
    workdir = shutil.copytree(small_finished, tmp_path / "changed", symlinks=True)
    (fresh := tmp_path / "fresh").mkdir()
    copy_workflow(fresh)
    before = cached_models(workdir)
    finish(run_study(workdir, small_study(**{key: value})), run_study(fresh, small_study(**{key: value})))
    assert_same_results(workdir, fresh)
    after = cached_models(workdir)
    new = {name for name in after if name not in before}
    assert {name: after[name] for name in before} == before  # no model was written again
    expected = {"all": 4, "base": 2, "varied": 2, "none": 0}[retrained]
    assert len(new) == expected, f"{key}: {len(new)} models trained, expected {expected}"


def test_going_back_to_an_earlier_study_restores_it_without_snakemakes_records(small_finished, tmp_path):
    """lr 0.05 -> 0.04 -> 0.05, with .snakemake/ deleted in between (a lost or copied results folder): the first
    study's tables come back exactly, and nothing is trained or evaluated again."""
    workdir = shutil.copytree(small_finished, tmp_path / "work", symlinks=True)
    first = tables(workdir)
    finish(run_study(workdir, small_study(**{"base.lr": 0.04})))
    assert tables(workdir) != first
    evaluated = {p: p.stat().st_mtime_ns for p in (workdir / "results/runs").rglob("*.csv")}
    models = cached_models(workdir)
    shutil.rmtree(workdir / ".snakemake")
    finish(run_study(workdir, small_study()))
    assert tables(workdir) == first
    assert cached_models(workdir) == models
    assert {p: p.stat().st_mtime_ns for p in evaluated} == evaluated  # no evaluation ran again
