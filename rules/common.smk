# Helpers shared by the rules: the study's runs, their training jobs, and the paths of results. Every computed
# file is named after the key of what it depends on (src/multisheets/plan/identity.py), so a changed study is
# missing files, and Snakemake's records of earlier parameters are not needed to notice it.
from multisheets.infra.digest import digest
from multisheets.interventions.names import shift_sets
from multisheets.interventions.registry import FAMILIES
from multisheets.plan.identity import (
    SHEET_SETTINGS,
    corruption_key,
    corruption_settings,
    data_key,
    data_settings,
    evaluation_key,
    family_identity,
    manifest_name,
    model_key,
    shift_key,
    training_key,
)
from multisheets.plan import paths
from multisheets.plan.jobs import plan_jobs, recorded_job
from multisheets.plan.paths import MODEL_CACHE
from multisheets.plan.preflight import (
    check_data,
    check_device,
    check_dimensions,
    check_families,
    check_selectable,
    check_starts,
    check_widths,
    class_count,
    split_sizes,
)
from multisheets.sheets.selection import (
    check_specifications,
    parse_specifications,
    selection_families,
)
from multisheets.sheets.sheet_measures import wide_measures
from multisheets.study.config import runtime_settings
from multisheets.study.runs import check_batch_sizes, expand_study, run_records

# Every output path is spelled once, in multisheets.plan.paths: the rule that writes a file names it through
# `result` (fixed paths) or a helper below (keyed ones); rules that read it name it `rules.<writer>.output.<key>`
# or through the same helper.

# A study's tables, sheets, figures and manifests: results/<study>/, so that studies never overwrite each other
# (the per-run files and the prepared data below are shared, named after their keys). Its logs: logs/<study>/.
STUDY = config["study"]


def result(path):
    """A fixed path in this study's folder of results/."""
    return paths.result(STUDY, path)


def study_log(name):
    """The log of a summary step of this study."""
    return f"logs/{STUDY}/{name}.log"


# The prepared data: a folder per data key, so other data settings are another folder (and going back finds the
# earlier one).
DATA_KEY = data_key(config["data"])
DATA_DIR = paths.data_dir(DATA_KEY)


def data_file(name):
    """A prepared data file: `<split>_images.npy`, `<split>_labels.npy` or `dataset.json`."""
    return str(DATA_DIR / name)


DATA_FILES = [
    data_file(f"{split}_{kind}.npy")
    for split in ("train", "val", "test")
    for kind in ("images", "labels")
] + [data_file("dataset.json")]

RUNS = expand_study(config)
check_starts(RUNS)  # before the training keys, which read every `init` checkpoint
RUNTIME = runtime_settings(config)
# A run's model: its training key on this data. Its files are named after it, so a run whose identity changed is
# simply not trained yet (and the model cache may hold it).
MODEL_KEYS = {
    run.run_id: model_key(training_key(run, RUNTIME["precision"]), DATA_KEY)
    for run in RUNS
}
RUN_RECORDS = run_records(RUNS, list(config["dimensions"]), MODEL_KEYS)


def trained_model(run_id):
    return paths.model_file(run_id, MODEL_KEYS[run_id])


def train_log(run_id):
    return paths.train_log_file(run_id, MODEL_KEYS[run_id])


JOBS = plan_jobs(
    RUNS,
    {run.run_id: recorded_job(train_log(run.run_id)) for run in RUNS},
    config["train"]["runs_per_job"],
)
# Families every run is evaluated under (clean first, always). The schema checks that subgroups has its groups.
EVALUATED_FAMILIES = list(
    dict.fromkeys(["clean"] + config["interventions"]["families"])
)
# Selection reads the validation split: only the families it needs (clean always: Rashomon sets) are evaluated
# there.
SPECIFICATIONS = parse_specifications(config["selection"])
check_specifications(SPECIFICATIONS, EVALUATED_FAMILIES)
SELECTION_FAMILIES = selection_families(SPECIFICATIONS)
EVALUATED_SPLITS = {
    family: ["test"] + (["val"] if family in SELECTION_FAMILIES else [])
    for family in EVALUATED_FAMILIES
}
CORRUPTIONS = config["interventions"]["corruption"]["types"]
CORRUPTION_KEY = corruption_key(DATA_KEY, config["interventions"]["corruption"])
SHIFT_SETS = shift_sets(config["interventions"]["shift"])

# What the schema cannot check, before any job starts.
check_dimensions(config)
check_data(config["data"], config["interventions"], EVALUATED_FAMILIES)
check_widths(RUNS)
SPLIT_SIZES = split_sizes(
    config["data"], DATA_DIR
)  # None: an image folder not read yet
if SPLIT_SIZES:
    check_batch_sizes(RUNS, SPLIT_SIZES["train"])
check_families(
    config["interventions"],
    EVALUATED_SPLITS,
    SPLIT_SIZES,
    class_count(config["data"], DATA_DIR),
)
check_selectable(SPECIFICATIONS, config["interventions"], SELECTION_FAMILIES)
check_device(RUNTIME["device"], workflow.local_exec and workflow.is_main_process)


def family_settings(family):
    """A family's settings, as its evaluation jobs get them (`evaluate.batch_size` only sets their speed)."""
    return config["interventions"].get(family, {})


# (run, split, family) -> evaluation key: the run's model, the family and its settings (plan/identity.py).
FAMILY_IDENTITIES = {
    family: family_identity(family, family_settings(family))
    for family in EVALUATED_FAMILIES
}
EVALUATION_KEYS = {
    (run.run_id, split, family): evaluation_key(
        MODEL_KEYS[run.run_id], family, split, FAMILY_IDENTITIES[family]
    )
    for run in RUNS
    for family in EVALUATED_FAMILIES
    for split in EVALUATED_SPLITS[family]
}


def job_runs(job):
    """Run ids of a training job."""
    return [run.run_id for run in JOBS[job]]


def predictions_file(run_id, split, family):
    """A run's logits under one family on one split."""
    return paths.predictions_file(
        run_id, split, family, EVALUATION_KEYS[run_id, split, family]
    )


def metrics_file(run_id, split, family):
    """A run's metrics under one family on one split."""
    return paths.metrics_file(
        run_id, split, family, EVALUATION_KEYS[run_id, split, family]
    )


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


def manifest(step, content):
    """A summary step's manifest: what the step depends on besides its input tables, in a file named after it.

    A summary step (tables, sheets, figures) writes fixed paths, so it also writes this file, and the default
    target asks for it (see `final_outputs`): another study has another manifest, missing, so the step runs again
    and asks for the per-run files it reads. Writing it removes the step's earlier manifests
    (identity.write_manifest), so going back to an earlier study is a missing file too.
    """
    return paths.manifest_file(STUDY, manifest_name(step, content))


def sheet_settings(step):
    """The `sheet` settings a summary step reads (identity.SHEET_SETTINGS), and no others."""
    return {name: config["sheet"][name] for name in SHEET_SETTINGS[step]}


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
    """The default target's inputs: the metrics table, the sheet, every figure, and every summary step's manifest
    (call once the rules exist). Snakemake reruns a job whose outputs exist only for an output that is asked for
    and missing, or an input that is newer: asking for the manifests is what makes a changed study rerun its
    summary steps, and through them every run whose files are missing."""
    figures = [
        name for name in FIGURES if name != "selection_effect" or config["selection"]
    ]
    steps = [
        "collect_metrics",
        "multiplicity_sheet",
        "seed_population",
        "per_example_measures",
    ] + figures
    return (
        [
            rules.collect_metrics.output.parquet,
            rules.multiplicity_sheet.output.sheet,
            rules.multiplicity_sheet.output.markdown,
        ]
        + [getattr(rules, name).output.png for name in figures]
        + [getattr(rules, step).output.manifest for step in steps]
    )


WIDE_MEASURES = wide_measures()  # measures with a wide table (sheets.sheet_measures)


def family_inputs(family, split):
    """Prepared files a family reads besides the data splits (its registry entry's `reads`)."""
    reads = FAMILIES[family].reads
    if reads == "corrupted_sets":
        return expand(
            rules.corrupt_split.output.images, split=split, corruption=CORRUPTIONS
        )
    if reads == "shift_sets":
        return [shift_set_file(name) for name in SHIFT_SETS]
    if reads == "groups_csv":
        return [family_settings(family)["groups_csv"]]
    return []


def shift_source_path(name):
    """CIFAR-10.1 is downloaded (None); any other shift set is a folder or archive named in the config."""
    return (
        None
        if name == "cifar10_1"
        else config["interventions"]["shift"]["imagefolders"][name]
    )


def shift_set_file(name):
    """An extra test set, prepared in the study's label space, under the key of its source and the data."""
    return paths.shift_set(shift_key(DATA_KEY, name, shift_source_path(name)), name)


def shift_source(wildcards):
    """The input of a shift set: its folder or archive (nothing for a download)."""
    source = shift_source_path(wildcards.name)
    return [] if source is None else [source]


def data_source_input():
    """A local image folder or archive is an input (a newer one prepares the data again); a download is not."""
    if config["data"]["source"] == "imagefolder":
        return [config["data"]["path"]]
    return []
