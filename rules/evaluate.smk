# Evaluation: one job per (intervention family, split, training job); each writes per-run logits and metrics,
# named after their evaluation keys. Every family is evaluated on the test split (the sheets); those that model
# selection reads also on val.

for job in JOBS:
    for family in EVALUATED_FAMILIES:
        for split in EVALUATED_SPLITS[family]:

            rule:
                name:
                    f"evaluate_{family}_{split}_{job}"
                input:
                    models=getattr(rules, f"train_{job}").output.models,
                    data=rules.prepare_data.output,
                    prepared=family_inputs(family, split),
                output:
                    predictions=[
                        predictions_file(run_id, split, family)
                        for run_id in job_runs(job)
                    ],
                    metrics=[
                        metrics_file(run_id, split, family) for run_id in job_runs(job)
                    ],
                log:
                    f"logs/evaluate/{family}_{split}_{job}.log",
                conda:
                    "../envs/multisheets.yaml"
                threads: job_threads()
                resources:
                    **gpu_resources("evaluate_runtime", "evaluate_mem_mb"),
                params:
                    family=family,
                    split=split,
                    settings=family_settings(family),
                    data_dir=DATA_DIR,
                script:
                    "../workflow/scripts/evaluate.py"
