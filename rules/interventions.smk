# Data that intervention families read besides the splits: corrupted held-out splits and extra test sets, each
# under the key of the data and the settings it is made from.


rule corrupt_split:
    input:
        images=data_file("{split}_images.npy"),
        labels=data_file("{split}_labels.npy"),
    output:
        images=paths.corrupted_set(CORRUPTION_KEY),
    log:
        f"logs/corruptions/{CORRUPTION_KEY}/{{split}}/{{corruption}}.log",
    wildcard_constraints:
        corruption="|".join(CORRUPTIONS) or "none",
        split="val|test",
    conda:
        "../envs/multisheets.yaml"
    threads: 2
    params:
        settings=corruption_settings(config["interventions"]["corruption"]),
        data_dir=DATA_DIR,
    script:
        "../workflow/scripts/corrupt_split.py"


rule prepare_shift:
    input:
        data=data_file("dataset.json"),
        source=shift_source,
    output:
        shift_set=paths.shift_set("{key}", "{name}"),
    log:
        "logs/shift/{key}/{name}.log",
    wildcard_constraints:
        key="[0-9a-f]+",
    conda:
        "../envs/multisheets.yaml"
    params:
        download_dir="resources/shift",
        data_dir=DATA_DIR,
    script:
        "../workflow/scripts/prepare_shift.py"
