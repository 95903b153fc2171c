# Evaluation: one job per (intervention family, split, batch of runs); each writes per-run logits and metrics.
# Every family is evaluated on the test split (the sheets); those that model selection reads also on val.

for batch in BATCHES:
    for family in FAMILIES:
        for split in EVALUATED_SPLITS[family]:

            rule:
                name:
                    f"evaluate_{family}_{split}_{batch}"
                input:
                    models=batch_files(batch, "model.pt"),
                    data=DATA_FILES,
                    prepared=family_inputs(family, split),
                output:
                    predictions=batch_files(batch, f"predictions/{split}/{family}.npz"),
                    metrics=batch_files(batch, f"metrics/{split}/{family}.csv"),
                log:
                    f"logs/evaluate/{family}_{split}_{batch}.log",
                conda:
                    "../envs/multisheets.yaml"
                threads: 4
                resources:
                    **gpu_resources("evaluate_runtime", "evaluate_mem_mb"),
                params:
                    family=family,
                    split=split,
                    settings=family_settings(family),
                    train=config["train"],
                script:
                    "../workflow/scripts/evaluate.py"
