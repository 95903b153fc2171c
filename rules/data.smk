# Data stage: one job turns the configured source into uint8 arrays with a fixed train/val/test split, in the
# folder of the study's data key.


rule prepare_data:
    input:
        data_source_input(),
    output:
        DATA_FILES,
    log:
        f"logs/prepare_data/{DATA_KEY}.log",
    conda:
        "../envs/multisheets.yaml"
    threads: 2
    params:
        data=data_settings(config["data"]),
        data_dir=DATA_DIR,
    script:
        "../workflow/scripts/prepare_data.py"
