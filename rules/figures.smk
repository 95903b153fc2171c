# Figures: each reads a table under results/tables/ and writes PNG + PDF.


rule sheet_heatmap:
    input:
        "results/tables/sheet.parquet",
    output:
        png=report(
            "results/figures/sheet_heatmap.png",
            caption="../report/sheet_heatmap.rst",
            category="Multiplicity sheet",
        ),
        pdf="results/figures/sheet_heatmap.pdf",
    log:
        "logs/figures/sheet_heatmap.log",
    conda:
        "../envs/multisheets.yaml"
    params:
        study=config["study"],
        epsilon=config["sheet"]["epsilon"],
    script:
        "../workflow/scripts/sheet_heatmap.py"


rule dimension_trends:
    input:
        metrics="results/tables/metrics.parquet",
        rashomon="results/tables/rashomon.csv",
    output:
        png=report(
            "results/figures/dimension_trends.png",
            caption="../report/dimension_trends.rst",
            category="Trends",
        ),
        pdf="results/figures/dimension_trends.pdf",
    log:
        "logs/figures/dimension_trends.log",
    conda:
        "../envs/multisheets.yaml"
    params:
        study=config["study"],
    script:
        "../workflow/scripts/dimension_trends.py"


rule epsilon_curves:
    input:
        curves="results/tables/epsilon_curves.parquet",
        metrics="results/tables/metrics.parquet",
    output:
        png=report(
            "results/figures/epsilon_curves.png",
            caption="../report/epsilon_curves.rst",
            category="Rashomon sets",
        ),
        pdf="results/figures/epsilon_curves.pdf",
    log:
        "logs/figures/epsilon_curves.log",
    conda:
        "../envs/multisheets.yaml"
    params:
        study=config["study"],
    script:
        "../workflow/scripts/epsilon_curves.py"


rule disagreement_matrix:
    input:
        "results/tables/disagreement_base_seeds.parquet",
    output:
        png=report(
            "results/figures/disagreement_base_seeds.png",
            caption="../report/disagreement_matrix.rst",
            category="Predictive multiplicity",
        ),
        pdf="results/figures/disagreement_base_seeds.pdf",
    log:
        "logs/figures/disagreement_matrix.log",
    conda:
        "../envs/multisheets.yaml"
    params:
        study=config["study"],
    script:
        "../workflow/scripts/disagreement_matrix.py"


rule selection_effect:
    input:
        sheet="results/tables/sheet.parquet",
        steps="results/tables/selection_steps.csv",
    output:
        png=report(
            "results/figures/selection_effect.png",
            caption="../report/selection_effect.rst",
            category="Model selection",
        ),
        pdf="results/figures/selection_effect.pdf",
    log:
        "logs/figures/selection_effect.log",
    conda:
        "../envs/multisheets.yaml"
    params:
        study=config["study"],
    script:
        "../workflow/scripts/selection_effect.py"
