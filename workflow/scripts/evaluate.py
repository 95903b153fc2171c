"""Evaluate one training job's runs under one intervention family on one split (evaluate_<family>_<split>_<job>),
on the GPUs the job leases."""

from multisheets.infra.gpus import lease_gpus
from multisheets.infra.interrupts import exit_with_parent
from multisheets.infra.workers import run_job
from multisheets.interventions import job
from multisheets.models.runtime import setup_logging, torch_threads
from multisheets.study.config import runtime_settings

config = snakemake.config
settings = runtime_settings(config)
threads = torch_threads(snakemake.threads, settings, config["resources"])
setup_logging(snakemake.log[0], threads)
exit_with_parent()
# Before anything asks CUDA: the job's GPUs are the only ones it sees.
lease = lease_gpus(getattr(snakemake.resources, "gpu", 0), settings["device"], snakemake.rule)
spec = dict(
    config=dict(config),
    family=snakemake.params.family,
    split=snakemake.params.split,
    settings=dict(snakemake.params.settings),
    model_paths=list(snakemake.input.models),
    prediction_paths=list(snakemake.output.predictions),
    metric_paths=list(snakemake.output.metrics),
    inputs=list(snakemake.input.prepared),
    data_dir=str(snakemake.params.data_dir),
    threads=threads,
    log=snakemake.log[0],
)
with lease:
    run_job(job, spec, lease.gpus, config["resources"]["runs_per_gpu"])
