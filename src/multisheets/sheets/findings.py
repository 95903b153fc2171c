"""The finding in one table: per scenario and sheet column, is there multiplicity beyond test noise, before and
after model selection?

The paper's question is whether multiplicity persists once runs are selected with extra specifications. The sheet
holds the numbers; this table puts, for each scenario and intervention, the Rashomon set's and the selected runs'
counts, between-run std (test noise removed) with its interval, p-value against test noise and disagreement side
by side, with a verdict in words. Verdicts test many cells at once, so they use Holm's step-down adjustment of
the p-values over every cell of the table (family-wise error at 1 - confidence); the raw p-values are kept.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from multisheets.sheets.sheet_measures import MIN_RUNS

SELECTIONS = ("rashomon", "selected")  # before and after the selection specifications
MEASURES = ("between_run_std", "p_between_run", "disagreement")

PERSISTS = "persists"
NOISE = "not distinguishable from test noise"
TOO_FEW = "too few runs"
NO_TEST = "no test-noise model"  # ECE, membership attack: no per-image correctness to model test noise with


COLUMNS = (
    *("scenario", "intervention", "family", "selection", "n_runs"),
    *("between_run_std", "between_run_std_low", "between_run_std_high", "p_between_run", "p_holm"),
    *("disagreement", "verdict"),
)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN kept as NaN and not counted as a test)."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = order.size
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def verdict(n_runs: float, p_adjusted: float, alpha: float) -> str:
    if not n_runs >= MIN_RUNS:
        return TOO_FEW
    if np.isnan(p_adjusted):
        return NO_TEST
    return PERSISTS if p_adjusted < alpha else NOISE


def findings_table(sheet: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """One row per scenario x intervention x selection ("rashomon", "selected"): n_runs, the between-run std and its
    interval, p, Holm-adjusted p, disagreement and the verdict. Rows keep the sheet's order."""
    if sheet.empty:
        return pd.DataFrame(columns=COLUMNS)  # a header, so that the CSV of a study without runs still reads
    keys = ["scenario", "intervention", "selection"]
    rows = sheet[sheet["measure"].isin(MEASURES)]
    values = rows.pivot_table(index=keys, columns="measure", values="value", aggfunc="first", dropna=False)
    std = rows[rows["measure"] == "between_run_std"].set_index(keys)[["ci_low", "ci_high"]]
    counts = sheet.drop_duplicates(keys).set_index(keys)[["family", "n_runs"]]
    table = counts.join(values.reindex(columns=list(MEASURES))).join(std)
    table = table.rename(columns={"ci_low": "between_run_std_low", "ci_high": "between_run_std_high"})
    table["p_holm"] = holm(table["p_between_run"].to_numpy())
    alpha = 1 - confidence
    table["verdict"] = [verdict(n, p, alpha) for n, p in zip(table["n_runs"], table["p_holm"])]
    return table.reset_index()[list(COLUMNS)]


def side_by_side(findings: pd.DataFrame) -> pd.DataFrame:
    """Scenario x intervention rows with the before and after columns next to each other (the paper's table)."""
    if findings.empty:
        return findings
    shown = findings.assign(
        sigma=[
            _interval(v, lo, hi)
            for v, lo, hi in findings[["between_run_std", "between_run_std_low", "between_run_std_high"]].to_numpy()
        ],
        p=findings["p_holm"].map(lambda p: "" if np.isnan(p) else f"{p:.3g}"),
        disagreement_pct=findings["disagreement"].map(lambda d: "" if np.isnan(d) else f"{100 * d:.2f}"),
    )
    columns = {
        "n_runs": "runs",
        "sigma": "σ̂ (pp)",
        "p": "p (Holm)",
        "disagreement_pct": "disagreement (%)",
        "verdict": "verdict",
    }
    parts = []
    for selection in [s for s in SELECTIONS if s in set(findings["selection"])]:
        part = shown[shown["selection"] == selection].set_index(["scenario", "intervention"])[list(columns)]
        label = "before selection" if selection == "rashomon" else "after selection"
        parts.append(part.rename(columns={c: f"{name}, {label}" for c, name in columns.items()}))
    order = findings.drop_duplicates(["scenario", "intervention"])[["scenario", "intervention"]]
    return pd.concat(parts, axis=1).loc[list(order.itertuples(index=False, name=None))].reset_index()


#: the verdicts as a paper's table cell, explained in its caption
SHORT_VERDICTS = {PERSISTS: "yes", NOISE: "no", TOO_FEW: "--", NO_TEST: "n/a"}
SHORT_CAPTION = (
    "Beyond test noise: yes (Holm-adjusted p < 1 - confidence), no (not distinguishable from test noise), "
    "-- (fewer than two runs), n/a (no test-noise model: ECE, membership attack)."
)


def _interval(value: float, low: float, high: float) -> str:
    if np.isnan(value):
        return ""
    return f"{100 * value:.2f} [{100 * low:.2f}, {100 * high:.2f}]"


def headline(findings: pd.DataFrame) -> list[str]:
    """The answer in a few lines: per scenario, in how many tested columns multiplicity persists after selection
    (or, with no selection, in the Rashomon set)."""
    if findings.empty:
        return ["No run is in any Rashomon set: there is nothing to report."]
    after = "selected" if (findings["selection"] == "selected").any() else "rashomon"
    where = "after model selection" if after == "selected" else "in the Rashomon set (the study selects no further)"
    lines = []
    for scenario, rows in findings[findings["selection"] == after].groupby("scenario", sort=False):
        counts = rows["verdict"].value_counts()
        tested = int(counts.get(PERSISTS, 0) + counts.get(NOISE, 0))
        runs = int(rows["n_runs"].max())
        if counts.get(TOO_FEW, 0) == len(rows):
            lines.append(f"- `{scenario}`: {runs} run(s) {where}: too few runs to measure a spread.")
            continue
        persisting = rows.loc[rows["verdict"] == PERSISTS, "intervention"].tolist()
        listed = f" ({', '.join(persisting)})" if persisting else ""
        lines.append(
            f"- `{scenario}` ({runs} runs {where}): multiplicity beyond test noise persists in "
            f"{len(persisting)} of {tested} tested columns{listed}."
        )
    return lines


def print_findings(findings_csv: str, markdown: str, latex: str) -> None:
    """What a finished workflow prints last: the headline and where the tables are (nothing if the sheet is absent,
    as after a run that built only some targets)."""
    try:
        findings = pd.read_csv(findings_csv)
    except FileNotFoundError:
        return
    print("\nFindings: does multiplicity persist after model selection?", *headline(findings), sep="\n")
    print(f"The findings table and the sheet: {markdown} (LaTeX: {latex})\n")
