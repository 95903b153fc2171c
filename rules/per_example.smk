# Per-example multiplicity and its remedies (ensembles, abstention) from the stored test logits of the sets in
# rashomon.csv; rules/figures.smk draws one figure per table.


rule per_example_measures:
    input:
        metrics=rules.collect_metrics.output.parquet,
        rashomon=rules.multiplicity_sheet.output.rashomon,
        predictions=sheet_predictions(),
        test_labels=data_file("test_labels.npy"),
    output:
        measures=result("tables/per_example.parquet"),
        ecdf=result("tables/per_example_ecdf.parquet"),
        ensembles=result("tables/ensembles.parquet"),
        abstention=result("tables/abstention.parquet"),
    log:
        "logs/per_example_measures.log",
    conda:
        "../envs/multisheets.yaml"
    threads: 1
    params:
        sheet=config["sheet"],
        with_selection=bool(config["selection"]),
        prediction_runs=sheet_prediction_runs(),
    script:
        "../workflow/scripts/per_example_measures.py"
