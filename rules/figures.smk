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
        "../envs/plot.yaml"
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
        "../envs/plot.yaml"
    params:
        study=config["study"],
    script:
        "../workflow/scripts/dimension_trends.py"
