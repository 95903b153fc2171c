# Per-example multiplicity and its remedies (ensembles, abstention) from the stored test logits of the sets in
# rashomon.csv; then one figure per table.


rule per_example_measures:
    input:
        metrics="results/tables/metrics.parquet",
        rashomon="results/tables/rashomon.csv",
        predictions=all_family_files("predictions", "npz", splits=("test",)),
        labels=str(DATA_DIR / "test_labels.npy"),
    output:
        measures="results/tables/per_example.parquet",
        ecdf="results/tables/per_example_ecdf.parquet",
        ensembles="results/tables/ensembles.parquet",
        abstention="results/tables/abstention.parquet",
    log:
        "logs/per_example_measures.log",
    conda:
        "../envs/multisheets.yaml"
    threads: 1
    params:
        sheet=config["sheet"],
        with_selection=bool(config["selection"]),
    script:
        "../workflow/scripts/per_example_measures.py"


rule per_example_distributions:
    input:
        ecdf="results/tables/per_example_ecdf.parquet",
        metrics="results/tables/metrics.parquet",
    output:
        png=report(
            "results/figures/per_example_distributions.png",
            caption="../report/per_example_distributions.rst",
            category="Predictive multiplicity",
        ),
        pdf="results/figures/per_example_distributions.pdf",
    log:
        "logs/figures/per_example_distributions.log",
    conda:
        "../envs/multisheets.yaml"
    params:
        study=config["study"],
    script:
        "../workflow/scripts/per_example_distributions.py"


rule ensemble_sizes:
    input:
        ensembles="results/tables/ensembles.parquet",
        metrics="results/tables/metrics.parquet",
    output:
        png=report(
            "results/figures/ensemble_sizes.png",
            caption="../report/ensemble_sizes.rst",
            category="Remedies",
        ),
        pdf="results/figures/ensemble_sizes.pdf",
    log:
        "logs/figures/ensemble_sizes.log",
    conda:
        "../envs/multisheets.yaml"
    params:
        study=config["study"],
    script:
        "../workflow/scripts/ensemble_sizes.py"


rule abstention:
    input:
        abstention="results/tables/abstention.parquet",
        metrics="results/tables/metrics.parquet",
    output:
        png=report(
            "results/figures/abstention.png",
            caption="../report/abstention.rst",
            category="Remedies",
        ),
        pdf="results/figures/abstention.pdf",
    log:
        "logs/figures/abstention.log",
    conda:
        "../envs/multisheets.yaml"
    params:
        study=config["study"],
    script:
        "../workflow/scripts/abstention.py"
