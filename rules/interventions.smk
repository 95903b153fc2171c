# Data that intervention families read besides the splits: corrupted held-out splits and extra test sets.


rule corrupt_split:
    input:
        images=data_file("{split}_images.npy"),
        labels=data_file("{split}_labels.npy"),
    output:
        images=result("corruptions/{split}/{corruption}.npy"),
    log:
        "logs/corruptions/{split}/{corruption}.log",
    wildcard_constraints:
        corruption="|".join(CORRUPTIONS) or "none",
        split="val|test",
    conda:
        "../envs/multisheets.yaml"
    threads: 2
    params:
        settings=corruption_settings(),
        data_dir=DATA_DIR,
    script:
        "../workflow/scripts/corrupt_split.py"


rule prepare_shift:
    input:
        data=data_file("dataset.json"),
        source=shift_source,
    output:
        shift_set=result("shift/{name}.npz"),
    log:
        "logs/shift/{name}.log",
    conda:
        "../envs/multisheets.yaml"
    params:
        source=shift_source,  # another folder under the same name reruns (inputs alone are not a trigger)
        download_dir="resources/shift",
        data_dir=DATA_DIR,
    script:
        "../workflow/scripts/prepare_shift.py"
