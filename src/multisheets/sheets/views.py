"""Views of a sheet for reading and for papers: Markdown (`sheet.md`, the findings first) and booktabs LaTeX. Each is
made from the sheet's tables alone."""

from __future__ import annotations

import pandas as pd

from multisheets.sheets.findings import SHORT_CAPTION, SHORT_VERDICTS, headline, side_by_side
from multisheets.sheets.latex import escape, to_latex
from multisheets.sheets.sheet import SheetTables, rashomon_summary, wide
from multisheets.sheets.sheet_measures import TOO_FEW_RUNS


def to_markdown(
    tables: SheetTables,
    measures_shown: tuple[str, ...],
    epsilon: float,
    notes: tuple[str, ...] = (),
    findings: pd.DataFrame | None = None,
) -> str:
    """A human-readable sheet, its findings first: accuracy spreads in percentage points, disagreement in percent;
    test split. A blank cell is a spread of fewer than two runs (or a measure the intervention has no data for)."""
    parts = [
        "# Multiplicity sheet",
        "",
        f"Rashomon sets: runs with validation accuracy within {epsilon:g} of the scenario's best. Selection "
        "reads the validation split; every number below is measured on the test split.",
        "",
    ]
    if findings is not None and not findings.empty:
        parts += [
            "## Findings: does multiplicity persist after model selection?",
            "",
            *headline(findings),
            "",
            "σ̂: between-run std of true accuracy, test noise removed, with its interval; p (Holm): the test that "
            "the runs' true accuracies do not differ, adjusted over every cell of this table "
            "(`sheets/findings.csv` keeps the raw p-values).",
            "",
            _markdown_table(side_by_side(findings)),
            "",
        ]
    parts += [
        *notes,
        "",
        _markdown_table(rashomon_summary(tables.rashomon_sets)),
        "",
    ]
    short = tables.sheet[tables.sheet["note"] != ""] if not tables.sheet.empty else tables.sheet
    for scenario, selection in short[["scenario", "selection"]].drop_duplicates().values if len(short) else ():
        over = "Rashomon set" if selection == "rashomon" else "selected runs"
        parts += [f"- `{scenario}`, {over}: {TOO_FEW_RUNS}; its spreads are blank.", ""]
    if tables.sheet.empty:
        return "\n".join(
            parts
            + [
                "No run is in any Rashomon set: every run diverged or has no validation accuracy, "
                "so there is nothing to measure.",
                "",
            ]
        )
    selections = ["rashomon"] + (["selected"] if not tables.selection_steps.empty else [])
    for selection in selections:
        over = "Rashomon sets" if selection == "rashomon" else "selected runs"
        for measure in measures_shown:
            table = wide(tables.sheet, measure, selection) * 100
            parts += [
                f"## {measure} over the {over} (percentage points)",
                "",
                _markdown_table(table.round(2).reset_index()),
                "",
            ]
        parts += [
            f"## Is it more than test noise? ({over})",
            "",
            "Each cell: observed range / the range test noise alone gives among that many runs (pp), and the "
            "p-value of the test that the runs' true accuracies do not differ.",
            "",
            _markdown_table(_noise_cells(tables.sheet, selection).reset_index()),
            "",
            "Between-run std of true accuracy, test noise removed (pp), with its interval:",
            "",
            _markdown_table(interval_cells(tables.sheet, "between_run_std", selection).reset_index()),
            "",
        ]
    if not tables.selection_steps.empty:
        parts += ["## Model selection steps (validation split)", "", _markdown_table(tables.selection_steps), ""]
    return "\n".join(parts)


def findings_latex(findings: pd.DataFrame, study: str) -> str:
    """The findings side by side as a booktabs table, verdicts shortened to fit a page and explained in its caption."""
    paper = side_by_side(findings).replace(SHORT_VERDICTS)
    headers = {
        column: escape(column).replace("σ̂", r"$\hat\sigma$").replace("verdict", "beyond noise")
        for column in paper.columns
    }
    caption = f"{study}: multiplicity before and after model selection (test split). {SHORT_CAPTION}"
    return to_latex(paper, caption, "tab:findings", headers)


def sheet_latex(tables: SheetTables, measures_shown: tuple[str, ...], study: str) -> str:
    """The sheet's wide tables and σ̂ with its interval as booktabs tables (pp), for the Rashomon sets and, where the
    study selects, the selected runs."""
    parts = []
    selections = ["rashomon"] + (["selected"] if not tables.selection_steps.empty else [])
    for selection in selections if not tables.sheet.empty else []:
        over = "Rashomon sets" if selection == "rashomon" else "selected runs"
        for measure in measures_shown:
            table = (wide(tables.sheet, measure, selection) * 100).round(2).reset_index()
            caption = f"{study}: {measure} over the {over} (test split, percentage points)"
            parts.append(to_latex(table, caption, f"tab:{measure}-{selection}"))
        intervals = interval_cells(tables.sheet, "between_run_std", selection).reset_index()
        caption = f"{study}: between-run std of true accuracy with its interval, over the {over} (pp)"
        parts.append(to_latex(intervals, caption, f"tab:between-run-std-{selection}"))
    return "\n".join(parts)


def _noise_cells(sheet: pd.DataFrame, selection: str) -> pd.DataFrame:
    """'range / range_null (p=...)' in pp per cell; the range alone where there is no null (ECE, attacks)."""
    observed, null, p = (wide(sheet, measure, selection) for measure in ("range", "range_null", "p_between_run"))
    text = (observed * 100).map("{:.2f}".format)
    with_null = text + " / " + (null * 100).map("{:.2f}".format) + " (p=" + p.map("{:.2g}".format) + ")"
    return with_null.where(null.notna(), text).where(observed.notna(), "")


def interval_cells(sheet: pd.DataFrame, measure: str, selection: str) -> pd.DataFrame:
    """Scenarios x interventions of 'value [low, high]' in pp (blank where undefined)."""
    rows = sheet[(sheet["measure"] == measure) & (sheet["selection"] == selection)]
    text = rows.assign(
        cell=[
            "" if pd.isna(value) else f"{value * 100:.2f} [{low * 100:.2f}, {high * 100:.2f}]"
            for value, low, high in zip(rows["value"], rows["ci_low"], rows["ci_high"])
        ]
    )
    table = text.pivot(index="scenario", columns="intervention", values="cell")
    return table.loc[rows["scenario"].unique(), rows["intervention"].unique()]


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = [
        "| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])
