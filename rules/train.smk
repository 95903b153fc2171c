# Training: one job per group of runs, so a process pays imports, data transfer and compilation once.
# Rules are generated per job because a job's outputs (one model per run) are known only from the config and
# from which runs are already trained (see plan_jobs).

for job in JOBS:

    rule:
        name:
            f"train_{job}"
        input:
            rules.prepare_data.output,
        output:
            models=[trained_model(run_id) for run_id in job_runs(job)],
            logs=[train_log(run_id) for run_id in job_runs(job)],
        log:
            f"logs/train/{job}.log",
        conda:
            "../envs/multisheets.yaml"
        threads: job_threads()
        resources:
            **gpu_resources("train_runtime", "train_mem_mb"),
        params:
            # No list of runs here: the outputs name them (and their model keys).
            job=job,
            model_cache=MODEL_CACHE,
            data_dir=DATA_DIR,
            data_key=DATA_KEY,
        script:
            "../workflow/scripts/train.py"
