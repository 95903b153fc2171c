# Figures: one rule per figure, all alike: a script (named after the rule) reads tables and writes PNG + PDF,
# and the PNG goes into the report with the caption report/<rule>.rst.

METRICS_TABLE = rules.collect_metrics.output.parquet
SHEET_OUTPUT = rules.multiplicity_sheet.output
PER_EXAMPLE_OUTPUT = rules.per_example_measures.output
# rule -> its figure file under results/figures/, report category, input tables and extra parameters
FIGURES = {
    "findings": dict(
        file="findings",
        category="Findings",
        input={"findings": SHEET_OUTPUT.findings},
    ),
    "sheet_heatmap": dict(
        file="sheet_heatmap",
        category="Multiplicity sheet",
        input={"sheet": SHEET_OUTPUT.sheet, "findings": SHEET_OUTPUT.findings},
        params={"epsilon": config["sheet"]["epsilon"]},
    ),
    "dimension_trends": dict(
        file="dimension_trends",
        category="Trends",
        input={"metrics": METRICS_TABLE, "rashomon": SHEET_OUTPUT.rashomon},
    ),
    "epsilon_curves": dict(
        file="epsilon_curves",
        category="Rashomon sets",
        input={"curves": SHEET_OUTPUT.epsilon_curves, "metrics": METRICS_TABLE},
        params={"epsilon": config["sheet"]["epsilon"]},
    ),
    "disagreement_matrix": dict(
        file="disagreement_base_seeds",
        category="Predictive multiplicity",
        input={"pairs": SHEET_OUTPUT.disagreement},
    ),
    "selection_effect": dict(
        file="selection_effect",
        category="Model selection",
        input={"sheet": SHEET_OUTPUT.sheet, "steps": SHEET_OUTPUT.selection},
    ),
    "per_example_distributions": dict(
        file="per_example_distributions",
        category="Predictive multiplicity",
        input={"ecdf": PER_EXAMPLE_OUTPUT.ecdf, "metrics": METRICS_TABLE},
    ),
    "ensemble_sizes": dict(
        file="ensemble_sizes",
        category="Remedies",
        input={"ensembles": PER_EXAMPLE_OUTPUT.ensembles, "metrics": METRICS_TABLE},
    ),
    "gde": dict(
        file="gde",
        category="Seed population",
        input={"gde": rules.seed_population.output.gde},
    ),
    "seed_convergence": dict(
        file="seed_convergence",
        category="Seed population",
        input={"convergence": rules.seed_population.output.convergence},
    ),
    "abstention": dict(
        file="abstention",
        category="Remedies",
        input={"abstention": PER_EXAMPLE_OUTPUT.abstention, "metrics": METRICS_TABLE},
    ),
}

for figure_rule, figure in FIGURES.items():
    figure_params = {"study": config["study"]} | figure.get("params", {})

    rule:
        name:
            figure_rule
        input:
            **figure["input"],
        output:
            png=report(
                result(f"figures/{figure['file']}.png"),
                caption=f"../report/{figure_rule}.rst",
                category=figure["category"],
            ),
            pdf=result(f"figures/{figure['file']}.pdf"),
            manifest=manifest(figure_rule, figure_params),
        log:
            study_log(f"figures/{figure_rule}"),
        conda:
            "../envs/multisheets.yaml"
        params:
            **figure_params,
            manifest=figure_params,
            script=figure_rule,
        # Not an f-string: Snakemake reads the script path when the job runs, after this loop has moved on, and
        # fills it from the job's own params.
        script:
            "../workflow/scripts/{params.script}.py"
