"""Print the tables of docs/validation.md from a finished seed-population study's results, as Markdown.

    python benchmarks/validation_tables.py results/cifar10-seed-population

Reads only the study's tables (sheets/sheet.csv, tables/seed_convergence.csv, tables/gde.csv, tables/metrics.csv),
so the report's numbers can be regenerated from any copy of the results.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def pp(value: float) -> str:
    return f"{100 * value:.2f}"


def jordan_table(study: Path) -> str:
    """Per intervention, over all seeds: mean, observed range, range from test noise alone, σ̂ with its interval,
    p of no between-run spread."""
    sheet = pd.read_csv(study / "sheets/sheet.csv")
    seed = sheet[(sheet["scenario"] == "seed") & (sheet["selection"] == "rashomon")]
    lines = [
        "| intervention | n | runs | mean accuracy (%) | range (pp) | range_null (pp) | σ̂ [95 % interval] (pp) | p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for intervention, rows in seed.groupby("intervention", sort=False):
        values = rows.set_index("measure")
        if "between_run_std" not in values.index or pd.isna(values.loc["between_run_std", "value"]):
            continue
        std = values.loc["between_run_std"]
        lines.append(
            f"| {intervention} | {int(rows['n'].iloc[0]):,} | {int(rows['n_runs'].iloc[0])} | "
            f"{pp(values.loc['mean', 'value'])} | {pp(values.loc['range', 'value'])} | "
            f"{pp(values.loc['range_null', 'value'])} | {pp(std['value'])} [{pp(std['ci_low'])}, {pp(std['ci_high'])}]"
            f" | {values.loc['p_between_run', 'value']:.3g} |"
        )
    return "\n".join(lines)


def convergence_table(study: Path, interventions: list[str]) -> str:
    """σ̂ with its interval for the first k seeds."""
    table = pd.read_csv(study / "tables/seed_convergence.csv")
    table = table[(table["measure"] == "between_run_std") & table["intervention"].isin(interventions)]
    counts = sorted(table["n_seeds"].unique())
    lines = ["| intervention | " + " | ".join(f"k = {k}" for k in counts) + " |", "|---" * (len(counts) + 1) + "|"]
    for intervention in interventions:
        rows = table[table["intervention"] == intervention].set_index("n_seeds")
        cells = [
            f"{pp(rows.loc[k, 'value'])} [{pp(rows.loc[k, 'ci_low'])}, {pp(rows.loc[k, 'ci_high'])}]" for k in counts
        ]
        lines.append(f"| {intervention} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def gde_table(study: Path) -> str:
    gde = pd.read_csv(study / "tables/gde.csv")
    lines = [
        "| intervention | test error (%) | disagreement (%) | ratio | gap (pp) | mean ECE (%) | ensemble ECE (%) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in gde.itertuples():
        lines.append(
            f"| {row.intervention} | {pp(row.test_error)} | {pp(row.disagreement)} | {row.ratio:.3f} | "
            f"{pp(row.gap)} | {pp(row.mean_ece)} | {pp(row.ensemble_ece)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", type=Path, help="the study's folder, results/<study>")
    parser.add_argument("--curve", nargs="+", default=["clean", "corruption_mean", "fgsm/eps=2/255"])
    args = parser.parse_args()
    print("## Spread over seeds (Jordan 2023)\n")
    print(jordan_table(args.study))
    print("\n## σ̂ against the number of seeds\n")
    print(convergence_table(args.study, args.curve))
    print("\n## Disagreement against test error (Jiang et al. 2022)\n")
    print(gde_table(args.study))


if __name__ == "__main__":
    main()
