# Data stage: one job turns the configured source into uint8 arrays with a fixed train/val/test split.


rule prepare_data:
    input:
        data_source_input(),
    output:
        DATA_FILES,
    log:
        "logs/prepare_data.log",
    conda:
        "../envs/multisheets.yaml"
    threads: 2
    params:
        data=config["data"],
        data_dir=DATA_DIR,
    script:
        "../workflow/scripts/prepare_data.py"
