"""Train one job's runs (rules train_<job>) on the GPUs it leases, restoring any run the model cache already holds."""

from multisheets.infra.gpus import lease_gpus
from multisheets.infra.interrupts import exit_with_parent
from multisheets.infra.workers import run_job
from multisheets.models.runtime import setup_logging, torch_threads
from multisheets.plan.jobs import runs_of_outputs
from multisheets.study.config import runtime_settings
from multisheets.study.runs import expand_study
from multisheets.train import job

config = snakemake.config
settings = runtime_settings(config)
threads = torch_threads(snakemake.threads, settings, config["resources"])
setup_logging(snakemake.log[0], threads)
exit_with_parent()
# Before anything asks CUDA: the job's GPUs are the only ones it sees.
lease = lease_gpus(getattr(snakemake.resources, "gpu", 0), settings["device"], f"train_{snakemake.params.job}")
runs, keys = runs_of_outputs(
    expand_study(config), settings["precision"], snakemake.params.data_key, snakemake.output.models
)
spec = dict(
    config=dict(config),
    run_ids=[run.run_id for run in runs],
    keys=keys,
    model_paths=list(snakemake.output.models),
    log_paths=list(snakemake.output.logs),
    data_dir=str(snakemake.params.data_dir),
    model_cache=str(snakemake.params.model_cache),
    job=snakemake.params.job,
    threads=threads,
    log=snakemake.log[0],
)
with lease:
    run_job(job, spec, lease.gpus, config["resources"]["runs_per_gpu"])
