# Evaluation: one job per (intervention family, split, training job); each writes per-run logits and metrics.
# Every family is evaluated on the test split (the sheets); those that model selection reads also on val.

for job in JOBS:
    for family in FAMILIES:
        for split in EVALUATED_SPLITS[family]:

            rule:
                name:
                    f"evaluate_{family}_{split}_{job}"
                input:
                    models=job_files(job, "model"),
                    data=DATA_FILES,
                    prepared=family_inputs(family, split),
                output:
                    predictions=job_files(job, f"predictions/{split}/{family}.npz"),
                    metrics=job_files(job, f"metrics/{split}/{family}.csv"),
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
                script:
                    "../workflow/scripts/evaluate.py"
