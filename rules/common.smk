# Helpers shared by the rules: the study's runs, their training jobs, and every output path in one place.
from pathlib import Path

from multisheets.interventions import subgroup_rows
from multisheets.selection import (
    check_specifications,
    parse_specifications,
    selection_families,
)
from multisheets.model_cache import (
    model_file,
    recorded_job,
    train_log_file,
    training_key,
)
from multisheets.study import expand_study, plan_jobs, run_dimension, runtime_settings

RESULTS = Path("results")
DATA_DIR = RESULTS / "data"
DATA_FILES = [
    str(DATA_DIR / f"{split}_{kind}.npy")
    for split in ("train", "val", "test")
    for kind in ("images", "labels")
] + [str(DATA_DIR / "dataset.json")]

RUNS = expand_study(config)
# A run's files are named after its training key, so a run whose identity changed is simply not trained yet.
TRAINING_KEYS = {
    run.run_id: training_key(run, runtime_settings(config)["precision"]) for run in RUNS
}
JOBS = plan_jobs(
    RUNS,
    {
        run.run_id: recorded_job(train_log_file(run.run_id, TRAINING_KEYS[run.run_id]))
        for run in RUNS
    },
    config["train"]["runs_per_job"],
)
MODEL_CACHE = RESULTS / "model_cache"
FAMILIES = list(dict.fromkeys(["clean"] + config["interventions"]["families"]))
if "subgroups" in FAMILIES and not config["interventions"]["subgroups"]["groups_csv"]:
    raise ValueError(
        "interventions.families lists 'subgroups' but interventions.subgroups.groups_csv is not set"
    )
# Selection reads the validation split: checked here, before any job, and only the families it needs
# (clean always: Rashomon sets) are evaluated there.
SPECIFICATIONS = parse_specifications(config["selection"])
check_specifications(SPECIFICATIONS, FAMILIES)
SELECTION_FAMILIES = selection_families(SPECIFICATIONS)
if "subgroups" in SELECTION_FAMILIES:
    subgroup_rows(config["interventions"]["subgroups"]["groups_csv"], "val")
EVALUATED_SPLITS = {
    family: ["test"] + (["val"] if family in SELECTION_FAMILIES else [])
    for family in FAMILIES
}
CORRUPTIONS = config["interventions"]["corruption"]["types"]
SHIFT_SETS = (
    ["cifar10_1"] if config["interventions"]["shift"]["cifar10_1"] else []
) + list(config["interventions"]["shift"]["imagefolders"])


def run_file(run_id, name):
    return str(RESULTS / "runs" / run_id / name)


def job_files(job, name):
    """A file of every run of a training job: `model`, `train_log`, or a path under the run's folder."""
    if name == "model":
        return [model_file(run.run_id, TRAINING_KEYS[run.run_id]) for run in JOBS[job]]
    if name == "train_log":
        return [
            train_log_file(run.run_id, TRAINING_KEYS[run.run_id]) for run in JOBS[job]
        ]
    return [run_file(run.run_id, name) for run in JOBS[job]]


def all_family_files(folder, suffix, splits=("val", "test")):
    """Every run's file of every evaluated family and split, e.g. results/runs/<run_id>/metrics/test/clean.csv."""
    return [
        run_file(run.run_id, f"{folder}/{split}/{family}.{suffix}")
        for run in RUNS
        for family in FAMILIES
        for split in EVALUATED_SPLITS[family]
        if split in splits
    ]


def run_table_records():
    """One record per run: what it varied and its value of every study dimension, for joining onto metrics."""
    return [
        {
            "run_id": run.run_id,
            "setting": run.setting,
            "seed": run.seed,
            "dimension": run_dimension(run) or "",
        }
        | {name: run.hyperparameters[name] for name in config["dimensions"]}
        for run in RUNS
    ]


def job_gpus():
    """GPUs of a training/evaluation job: none when the study trains on the CPU."""
    return config["resources"]["gpu"] if runtime_settings(config)["device"] != "cpu" else 0


def job_threads():
    """CPU threads of a training/evaluation job: torch uses this many, and SLURM allocates this many.

    A GPU job gets cpus_per_gpu per GPU (SLURM: --cpus-per-gpu); a CPU job gets cpu_threads (--cpus-per-task).
    A fixed count larger than a site's nodes would leave the job pending forever, so it comes from the study.
    """
    settings = config["resources"]
    gpus = job_gpus()
    return gpus * settings["cpus_per_gpu"] if gpus else settings["cpu_threads"]


def gpu_resources(runtime_key, mem_key):
    """Resources of a GPU job; `gpu` lets a local profile cap concurrent GPU jobs and SLURM request GPUs."""
    settings = config["resources"]
    gpus = job_gpus()
    resources = {"runtime": settings[runtime_key], "mem_mb": settings[mem_key]}
    if gpus:
        resources |= {"gpu": gpus, "cpus_per_gpu": settings["cpus_per_gpu"]}
        if settings["gpu_model"]:
            resources["gpu_model"] = settings["gpu_model"]
    return resources


def final_outputs():
    figures = [
        "sheet_heatmap",
        "dimension_trends",
        "epsilon_curves",
        "disagreement_base_seeds",
        "per_example_distributions",
        "ensemble_sizes",
        "abstention",
    ]
    if config["selection"]:
        figures.append("selection_effect")
    return [
        "results/tables/metrics.parquet",
        "results/tables/sheet.parquet",
        "results/sheets/sheet.md",
    ] + [f"results/figures/{name}.png" for name in figures]


WIDE_MEASURES = ["range", "std", "disagreement"]


def family_inputs(family, split):
    """Prepared files a family reads besides the data splits: corrupted splits, extra test sets."""
    if family == "corruption":
        return [f"results/corruptions/{split}/{name}.npy" for name in CORRUPTIONS]
    if family == "shift":
        return [f"results/shift/{name}.npz" for name in SHIFT_SETS]
    if family == "subgroups":
        return [config["interventions"]["subgroups"]["groups_csv"]]
    return []


def family_settings(family):
    """What an evaluation job of `family` depends on (and reruns for)."""
    return config["interventions"].get(family, {}) | {
        "batch_size": config["evaluate"]["batch_size"]
    }


def corruption_settings():
    """What a corrupted set depends on: not `types`/`severities`, so adding a type regenerates nothing else."""
    settings = config["interventions"]["corruption"]
    return {key: settings[key] for key in ("seed", "official_dir", "frost_dir")}


def shift_source(wildcards):
    """CIFAR-10.1 is downloaded; any other shift set is a folder or archive named in the config."""
    if wildcards.name == "cifar10_1":
        return []
    return [config["interventions"]["shift"]["imagefolders"][wildcards.name]]


def data_source_input():
    """A local image folder or archive is an input (its change reruns the study); a download is not."""
    if config["data"]["source"] == "imagefolder":
        return [config["data"]["path"]]
    return []
