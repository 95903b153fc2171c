# Data stage: one job turns the configured source into uint8 arrays with a fixed train/val/test split.


rule prepare_data:
    input:
        data_source_input(),
    output:
        DATA_FILES,
    params:
        data=config["data"],
    threads: 2
    log:
        "logs/prepare_data.log",
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/prepare_data.py"
