# Per-example multiplicity and its remedies (ensembles, abstention) from the stored test logits of the sets in
# rashomon.csv; rules/figures.smk draws one figure per table.

PER_EXAMPLE_MEASURES = dict(
    sheet=sheet_settings("per_example_measures"),
    with_selection=bool(config["selection"]),
    predictions=digest(sheet_predictions()),
)


rule per_example_measures:
    input:
        metrics=rules.collect_metrics.output.parquet,
        rashomon=rules.multiplicity_sheet.output.rashomon,
        # The files the sheet read, listed by it: the same predictions without naming 4·R files to Snakemake again
        # (each named file costs the DAG of a large study time; the sheet's input names them already).
        prediction_files=rules.multiplicity_sheet.output.prediction_files,
        test_labels=data_file("test_labels.npy"),
    output:
        measures=result("tables/per_example.parquet"),
        ecdf=result("tables/per_example_ecdf.parquet"),
        ensembles=result("tables/ensembles.parquet"),
        abstention=result("tables/abstention.parquet"),
        manifest=manifest("per_example_measures", PER_EXAMPLE_MEASURES),
    log:
        study_log("per_example_measures"),
    conda:
        "../envs/multisheets.yaml"
    # Example chunks are tallied in parallel, one per thread, with the tables identical for any count. A CPU job
    # sized like the study's other CPU jobs (resources.cpu_threads; locally capped by --cores).
    threads: config["resources"]["cpu_threads"]
    params:
        sheet=PER_EXAMPLE_MEASURES["sheet"],
        with_selection=PER_EXAMPLE_MEASURES["with_selection"],
        manifest=PER_EXAMPLE_MEASURES,
    script:
        "../workflow/scripts/per_example_measures.py"
