# Sheets: gather every run's metrics into one table, then summarise the Rashomon sets per scenario.


rule collect_metrics:
    input:
        all_family_files("metrics", "csv"),
    output:
        parquet="results/tables/metrics.parquet",
        csv="results/tables/metrics.csv",
        runs="results/tables/runs.csv",
    log:
        "logs/collect_metrics.log",
    conda:
        "../envs/multisheets.yaml"
    params:
        runs=run_table_records(),
    script:
        "../workflow/scripts/collect_metrics.py"


rule multiplicity_sheet:
    input:
        metrics="results/tables/metrics.parquet",
        runs="results/tables/runs.csv",
        predictions=all_family_files("predictions", "npz", splits=("test",)),
        data=DATA_FILES,
    output:
        long="results/tables/sheet.parquet",
        csv="results/sheets/sheet.csv",
        rashomon="results/tables/rashomon.csv",
        selection="results/tables/selection_steps.csv",
        epsilon_curves="results/tables/epsilon_curves.parquet",
        flip_rates="results/tables/flip_rates.parquet",
        disagreement="results/tables/disagreement_base_seeds.parquet",
        wide=expand("results/sheets/sheet_{measure}.csv", measure=WIDE_MEASURES),
        markdown="results/sheets/sheet.md",
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
    script:
        "../workflow/scripts/multiplicity_sheet.py"
