# Evaluation: one job per (intervention family, batch of runs); each writes per-run logits and metrics.

for batch in BATCHES:
    for family in FAMILIES:

        rule:
            name:
                f"evaluate_{family}_{batch}"
            input:
                models=batch_files(batch, "model.pt"),
                data=DATA_FILES,
                prepared=family_inputs(family),
            output:
                predictions=batch_files(batch, f"predictions/{family}.npz"),
                metrics=batch_files(batch, f"metrics/{family}.csv"),
            log:
                f"logs/evaluate/{family}_{batch}.log",
            conda:
                "../envs/multisheets.yaml"
            threads: 4
            resources:
                **gpu_resources("evaluate_runtime", "evaluate_mem_mb"),
            params:
                family=family,
                settings=family_settings(family),
                train=config["train"],
            script:
                "../workflow/scripts/evaluate.py"
