# Sheets: gather every run's metrics into one table, then summarise the Rashomon sets per scenario.


rule collect_metrics:
    input:
        metrics=[metrics_file(*evaluation) for evaluation in evaluations()],
    output:
        parquet=result("tables/metrics.parquet"),
        csv=result("tables/metrics.csv"),
        runs=result("tables/runs.csv"),
    log:
        "logs/collect_metrics.log",
    conda:
        "../envs/multisheets.yaml"
    params:
        runs=run_records(RUNS, list(config["dimensions"])),
    script:
        "../workflow/scripts/collect_metrics.py"


rule multiplicity_sheet:
    input:
        metrics=rules.collect_metrics.output.parquet,
        runs=rules.collect_metrics.output.runs,
        predictions=sheet_predictions(),
        test_labels=data_file("test_labels.npy"),
    output:
        sheet=result("sheets/sheet.parquet"),
        csv=result("sheets/sheet.csv"),
        rashomon=result("tables/rashomon.csv"),
        selection=result("tables/selection_steps.csv"),
        epsilon_curves=result("tables/epsilon_curves.parquet"),
        flip_rates=result("tables/flip_rates.parquet"),
        disagreement=result("tables/disagreement_base_seeds.parquet"),
        wide=expand(result("sheets/sheet_{measure}.csv"), measure=WIDE_MEASURES),
        markdown=result("sheets/sheet.md"),
    log:
        "logs/multiplicity_sheet.log",
    conda:
        "../envs/multisheets.yaml"
    threads: 1
    params:
        sheet=config["sheet"],
        selection=config["selection"],
        measures=WIDE_MEASURES,
        seed_streams=config["seed_streams"],
        prediction_runs=sheet_prediction_runs(),
    script:
        "../workflow/scripts/multiplicity_sheet.py"
