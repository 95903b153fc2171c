# Training: one job per batch of runs, so a process pays imports, data transfer and compilation once.
# Rules are generated per batch because a batch's outputs (one model per run) are known only from the config.

for batch in BATCHES:

    rule:
        name:
            f"train_{batch}"
        input:
            DATA_FILES,
        output:
            models=batch_files(batch, "model.pt"),
            logs=batch_files(batch, "train_log.json"),
        log:
            f"logs/train/{batch}.log",
        conda:
            "../envs/multisheets.yaml"
        threads: 4
        resources:
            **gpu_resources("train_runtime", "train_mem_mb"),
        params:
            runs=batch_params(batch),
            train=config["train"],
        script:
            "../workflow/scripts/train.py"
