# Sheets: gather every run's metrics into one table, then summarise the Rashomon sets per scenario. Each step also
# writes its manifest (see `manifest` in common.smk), so a changed study reruns it.

METRIC_FILES = [metrics_file(*evaluation) for evaluation in evaluations()]
COLLECT_METRICS = dict(runs=RUN_RECORDS, metrics=digest(METRIC_FILES))
MULTIPLICITY_SHEET = dict(
    sheet=sheet_settings("multiplicity_sheet"),
    selection=config["selection"],
    seed_streams=config["seed_streams"],
    predictions=digest(sheet_predictions()),
)
SEED_POPULATION = dict(
    sheet=sheet_settings("seed_population"),
    predictions=digest(sheet_predictions()),
)


rule collect_metrics:
    input:
        metrics=METRIC_FILES,
    output:
        parquet=result("tables/metrics.parquet"),
        csv=result("tables/metrics.csv"),
        runs=result("tables/runs.csv"),
        manifest=manifest("collect_metrics", COLLECT_METRICS),
    log:
        study_log("collect_metrics"),
    conda:
        "../envs/multisheets.yaml"
    params:
        runs=RUN_RECORDS,
        manifest=COLLECT_METRICS,
    script:
        "../workflow/scripts/collect_metrics.py"


rule multiplicity_sheet:
    input:
        metrics=rules.collect_metrics.output.parquet,
        runs=rules.collect_metrics.output.runs,
        # A function, not the list: Snakemake hashes a named list input once per file of it (4·R files), which made
        # the DAG of a 10,000-run study quadratic (issue 19).
        predictions=lambda wildcards: sheet_predictions(),
        test_labels=data_file("test_labels.npy"),
    output:
        sheet=result("sheets/sheet.parquet"),
        csv=report(
            result("sheets/sheet.csv"),
            caption="../report/sheet_table.rst",
            category="Multiplicity sheet",
        ),
        rashomon=result("tables/rashomon.csv"),
        prediction_files=result("tables/prediction_files.csv"),
        selection=result("tables/selection_steps.csv"),
        epsilon_curves=result("tables/epsilon_curves.parquet"),
        flip_rates=result("tables/flip_rates.parquet"),
        disagreement=result("tables/disagreement_base_seeds.parquet"),
        wide=expand(result("sheets/sheet_{measure}.csv"), measure=WIDE_MEASURES),
        markdown=result("sheets/sheet.md"),
        findings=report(
            result("sheets/findings.csv"),
            caption="../report/findings_table.rst",
            category="Findings",
        ),
        findings_tex=result("sheets/findings.tex"),
        sheet_tex=result("sheets/sheet.tex"),
        manifest=manifest("multiplicity_sheet", MULTIPLICITY_SHEET),
    log:
        study_log("multiplicity_sheet"),
    conda:
        "../envs/multisheets.yaml"
    threads: 1
    params:
        sheet=MULTIPLICITY_SHEET["sheet"],
        selection=MULTIPLICITY_SHEET["selection"],
        seed_streams=MULTIPLICITY_SHEET["seed_streams"],
        measures=WIDE_MEASURES,
        prediction_runs=sheet_prediction_runs(),
        study=config["study"],
        manifest=MULTIPLICITY_SHEET,
    script:
        "../workflow/scripts/multiplicity_sheet.py"


# The base setting's seeds as a population: the sheet's measures for the first k seeds, and disagreement against
# test error per intervention (sheets/seed_population.py; docs/validation.md reads them against published findings).
rule seed_population:
    input:
        metrics=rules.collect_metrics.output.parquet,
        runs=rules.collect_metrics.output.runs,
        predictions=lambda wildcards: sheet_predictions(),
        test_labels=data_file("test_labels.npy"),
    output:
        convergence=result("tables/seed_convergence.csv"),
        gde=result("tables/gde.csv"),
        manifest=manifest("seed_population", SEED_POPULATION),
    log:
        study_log("seed_population"),
    conda:
        "../envs/multisheets.yaml"
    threads: 1
    params:
        sheet=SEED_POPULATION["sheet"],
        prediction_runs=sheet_prediction_runs(),
        manifest=SEED_POPULATION,
    script:
        "../workflow/scripts/seed_population.py"
