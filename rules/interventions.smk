# Data that intervention families read besides the splits: corrupted test sets and extra test sets.


rule corrupt_test_set:
    input:
        "results/data/test_images.npy",
        "results/data/test_labels.npy",
    output:
        "results/corruptions/{corruption}.npy",
    log:
        "logs/corruptions/{corruption}.log",
    wildcard_constraints:
        corruption="|".join(CORRUPTIONS) or "none",
    conda:
        "../envs/multisheets.yaml"
    threads: 2
    params:
        settings=corruption_settings(),
    script:
        "../workflow/scripts/corrupt_test_set.py"


rule prepare_shift:
    input:
        data="results/data/dataset.json",
        source=shift_source,
    output:
        "results/shift/{name}.npz",
    log:
        "logs/shift/{name}.log",
    conda:
        "../envs/multisheets.yaml"
    params:
        download_dir="resources/shift",
    script:
        "../workflow/scripts/prepare_shift.py"
