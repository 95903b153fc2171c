"""The sheet's measures over each setting's seeds of a finished study, side by side, as Markdown.

    python benchmarks/per_setting_sheet.py results/cifar10-jpeg-architectures --interventions clean corruption_mean

The sheet's scenarios pool a dimension's settings with the base runs; this prints, for each setting (e.g. each
`model`), the multiplicity of its own seeds: mean accuracy, σ̂ with its interval, p, and disagreement. It reads
the study's tables/metrics.parquet, tables/runs.csv and tables/prediction_files.csv (the files the sheet read, their
paths relative to the workflow's folder: run it there), with the sheet's own functions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from multisheets.sheets.predictions import stored_predictions
from multisheets.sheets.sheet import REPORTED_SPLIT, scenario_rows

SETTINGS = {"confidence": 0.95, "expected_range_k": 3, "instances": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", type=Path, help="the study's folder, results/<study>")
    parser.add_argument("--interventions", nargs="+", default=["clean", "corruption_mean"])
    parser.add_argument("--data", type=Path, help="the prepared data folder (results/data/<key>); default: found")
    args = parser.parse_args()
    metrics = pd.read_parquet(args.study / "tables/metrics.parquet")
    runs = pd.read_csv(args.study / "tables/runs.csv", keep_default_na=False)
    files = pd.read_csv(args.study / "tables/prediction_files.csv")
    data = args.data or next((args.study.parent / "data").glob("*/test_labels.npy")).parent
    store = stored_predictions(
        files[["run_id", "family"]].to_dict("records"), list(files["path"]), metrics, np.load(data / "test_labels.npy")
    )
    reported = metrics[metrics["split"] == REPORTED_SPLIT]
    print("| setting | intervention | runs | mean acc. (%) | σ̂ [95 %] (pp) | p | disagreement (%) |")
    print("|---|---|---|---|---|---|---|")
    for setting, members in runs.groupby("setting", sort=False)["run_id"]:
        rows = scenario_rows(setting, pd.Index(members), reported, args.interventions, store, members.iloc[0], SETTINGS)
        table = pd.DataFrame(rows).set_index(["intervention", "measure"])
        for intervention in args.interventions:
            std, mean = table.loc[(intervention, "between_run_std")], table.loc[(intervention, "mean"), "value"]
            print(
                f"| {setting} | {intervention} | {len(members)} | {100 * mean:.2f}"
                f" | {100 * std['value']:.2f} [{100 * std['ci_low']:.2f}, {100 * std['ci_high']:.2f}]"
                f" | {table.loc[(intervention, 'p_between_run'), 'value']:.2g}"
                f" | {100 * table.loc[(intervention, 'disagreement'), 'value']:.1f} |"
            )


if __name__ == "__main__":
    main()
