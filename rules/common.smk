# Helpers shared by the rules: the study's runs, their training jobs, and the paths of results.
from pathlib import Path

from multisheets.data import subgroup_rows
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
from multisheets.study import expand_study, plan_jobs, run_records, runtime_settings

# Every output path is spelled once: in the rule that writes it, through `result`, or in a helper below for the
# per-run files. Rules that read a file name it as `rules.<writer>.output.<key>` or through the same helper.
RESULTS = Path("results")
DATA_DIR = RESULTS / "data"


def result(path):
    """A path under results/."""
    return str(RESULTS / path)


def data_file(name):
    """A prepared data file: `<split>_images.npy`, `<split>_labels.npy` or `dataset.json`."""
    return str(DATA_DIR / name)


DATA_FILES = [
    data_file(f"{split}_{kind}.npy")
    for split in ("train", "val", "test")
    for kind in ("images", "labels")
] + [data_file("dataset.json")]

RUNS = expand_study(config)
RUNTIME = runtime_settings(config)
# A run's files are named after its training key, so a run whose identity changed is simply not trained yet.
TRAINING_KEYS = {run.run_id: training_key(run, RUNTIME["precision"]) for run in RUNS}
JOBS = plan_jobs(
    RUNS,
    {
        run.run_id: recorded_job(train_log_file(run.run_id, TRAINING_KEYS[run.run_id]))
        for run in RUNS
    },
    config["train"]["runs_per_job"],
)
RUNS_DIR = RESULTS / "runs"
MODEL_CACHE = RESULTS / "model_cache"
# Families every run is evaluated under (clean first, always). The schema checks that subgroups has its groups.
EVALUATED_FAMILIES = list(
    dict.fromkeys(["clean"] + config["interventions"]["families"])
)
# Selection reads the validation split: checked here, before any job, and only the families it needs
# (clean always: Rashomon sets) are evaluated there.
SPECIFICATIONS = parse_specifications(config["selection"])
check_specifications(SPECIFICATIONS, EVALUATED_FAMILIES)
SELECTION_FAMILIES = selection_families(SPECIFICATIONS)
if "subgroups" in SELECTION_FAMILIES:
    subgroup_rows(config["interventions"]["subgroups"]["groups_csv"], "val")
EVALUATED_SPLITS = {
    family: ["test"] + (["val"] if family in SELECTION_FAMILIES else [])
    for family in EVALUATED_FAMILIES
}
CORRUPTIONS = config["interventions"]["corruption"]["types"]
SHIFT_SETS = (
    ["cifar10_1"] if config["interventions"]["shift"]["cifar10_1"] else []
) + list(config["interventions"]["shift"]["imagefolders"])


def job_runs(job):
    """Run ids of a training job."""
    return [run.run_id for run in JOBS[job]]


def trained_model(run_id):
    return model_file(run_id, TRAINING_KEYS[run_id])


def train_log(run_id):
    return train_log_file(run_id, TRAINING_KEYS[run_id])


def predictions_file(run_id, split, family):
    """A run's logits under one family on one split, e.g. results/runs/<run_id>/predictions/test/clean.npz."""
    return str(RUNS_DIR / run_id / "predictions" / split / f"{family}.npz")


def metrics_file(run_id, split, family):
    """A run's metrics under one family on one split, e.g. results/runs/<run_id>/metrics/test/clean.csv."""
    return str(RUNS_DIR / run_id / "metrics" / split / f"{family}.csv")


def evaluations(splits=("val", "test")):
    """(run_id, split, family) of every evaluation of the study on the given splits, in one fixed order."""
    return [
        (run.run_id, split, family)
        for run in RUNS
        for family in EVALUATED_FAMILIES
        for split in EVALUATED_SPLITS[family]
        if split in splits
    ]


def sheet_prediction_runs():
    """Which run and family each of `sheet_predictions()` holds, in the same order: readers need not parse paths."""
    return [
        {"run_id": run_id, "family": family}
        for run_id, _, family in evaluations(("test",))
    ]


def sheet_predictions():
    """Every run's test-split logits of every family: what the sheet and the per-example measures read."""
    return [predictions_file(*evaluation) for evaluation in evaluations(("test",))]


def job_gpus():
    """GPUs of a training/evaluation job: none when the study trains on the CPU."""
    return config["resources"]["gpu"] if RUNTIME["device"] != "cpu" else 0


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
    """The default target's inputs: the metrics table, the sheet and every figure (call once the rules exist)."""
    figures = [
        name for name in FIGURES if name != "selection_effect" or config["selection"]
    ]
    return [
        rules.collect_metrics.output.parquet,
        rules.multiplicity_sheet.output.sheet,
        rules.multiplicity_sheet.output.markdown,
    ] + [getattr(rules, name).output.png for name in figures]


WIDE_MEASURES = ["range", "std", "disagreement"]


def family_inputs(family, split):
    """Prepared files a family reads besides the data splits: corrupted splits, extra test sets."""
    if family == "corruption":
        return expand(
            rules.corrupt_split.output.images, split=split, corruption=CORRUPTIONS
        )
    if family == "shift":
        return expand(rules.prepare_shift.output.shift_set, name=SHIFT_SETS)
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
