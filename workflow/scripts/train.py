"""Train one job's runs in this process (rules train_<job>), restoring any run the model cache already holds."""

from multisheets.infra.interrupts import exit_with_parent
from multisheets.models.runtime import make_runtime, setup_logging, torch_threads
from multisheets.plan.jobs import runs_of_outputs
from multisheets.study.config import runtime_settings
from multisheets.study.runs import expand_study
from multisheets.train.loop import train_batch
from multisheets.train.model_cache import ModelCache

# How runs are trained is read from the config, not passed as a parameter: changing it retrains nothing.
config = snakemake.config
settings = runtime_settings(config)
setup_logging(snakemake.log[0], torch_threads(snakemake.threads, settings, config["resources"]))
exit_with_parent()
runs, keys = runs_of_outputs(
    expand_study(config), settings["precision"], snakemake.params.data_key, snakemake.output.models
)
train_batch(
    runs,
    data_dir=snakemake.params.data_dir,
    model_paths=snakemake.output.models,
    log_paths=snakemake.output.logs,
    runtime=make_runtime(settings),
    cache=ModelCache(snakemake.params.model_cache),
    keys=keys,
    job=snakemake.params.job,
)
