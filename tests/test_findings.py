"""The findings table: verdicts per scenario and column before and after selection, Holm's adjustment, LaTeX."""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from multisheets.sheets.findings import NO_TEST, NOISE, PERSISTS, TOO_FEW, findings_table, headline, holm, side_by_side
from multisheets.sheets.latex import escape, to_latex
from multisheets.sheets.views import findings_latex


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.04 (m = 3): 3 * 0.01 = 0.03, 2 * 0.02 = 0.04, max(0.04, 1 * 0.04) = 0.04; NaN is no test
    adjusted = holm(np.array([0.04, np.nan, 0.01, 0.02]))
    assert adjusted[[0, 2, 3]] == pytest.approx([0.04, 0.03, 0.04])
    assert np.isnan(adjusted[1])
    assert holm(np.array([0.5, 0.9])) == pytest.approx([1.0, 1.0])  # capped at 1, kept monotone


def sheet_rows(scenario, intervention, selection, n_runs, std, p, disagreement, family="clean"):
    base = {"scenario": scenario, "intervention": intervention, "selection": selection, "family": family}
    base |= {"n_runs": n_runs, "n": 1000, "note": ""}
    return [
        base | {"measure": "between_run_std", "value": std, "ci_low": std / 2, "ci_high": std * 2},
        base | {"measure": "p_between_run", "value": p, "ci_low": np.nan, "ci_high": np.nan},
        base | {"measure": "disagreement", "value": disagreement, "ci_low": np.nan, "ci_high": np.nan},
    ]


@pytest.fixture
def sheet():
    rows = (
        sheet_rows("seed", "clean", "rashomon", 10, 0.004, 1e-6, 0.05)
        + sheet_rows("seed", "clean", "selected", 5, 0.003, 0.001, 0.04)
        + sheet_rows("seed", "pgd", "rashomon", 10, 0.0, 0.6, 0.1, "adversarial")
        + sheet_rows("seed", "pgd", "selected", 1, np.nan, np.nan, np.nan, "adversarial")
        + sheet_rows("seed", "ece", "rashomon", 10, np.nan, np.nan, np.nan, "calibration")
        + sheet_rows("seed", "ece", "selected", 5, np.nan, np.nan, np.nan, "calibration")
    )
    return pd.DataFrame(rows)


def test_verdicts_and_the_adjusted_p_values(sheet):
    findings = findings_table(sheet, 0.95).set_index(["scenario", "intervention", "selection"])
    assert findings.loc[("seed", "clean", "rashomon"), "verdict"] == PERSISTS
    # three tests (clean x 2, pgd before): 0.001 -> 2 * 0.001 (second smallest of three) still < 0.05
    assert findings.loc[("seed", "clean", "selected"), "p_holm"] == pytest.approx(0.002)
    assert findings.loc[("seed", "clean", "selected"), "verdict"] == PERSISTS
    assert findings.loc[("seed", "pgd", "rashomon"), "verdict"] == NOISE
    assert findings.loc[("seed", "pgd", "selected"), "verdict"] == TOO_FEW
    assert findings.loc[("seed", "ece", "selected"), "verdict"] == NO_TEST
    assert findings.loc[("seed", "clean", "rashomon"), "between_run_std_high"] == pytest.approx(0.008)
    assert headline(findings.reset_index()) == [
        "- `seed` (5 runs after model selection): multiplicity beyond test noise persists in 1 of 1 tested columns "
        "(clean)."
    ]


def test_the_paper_table_puts_before_and_after_side_by_side(sheet):
    table = side_by_side(findings_table(sheet, 0.95)).set_index(["scenario", "intervention"])
    assert list(table.index) == [("seed", "clean"), ("seed", "pgd"), ("seed", "ece")]
    assert table.loc[("seed", "clean"), "σ̂ (pp), before selection"] == "0.40 [0.20, 0.80]"
    assert table.loc[("seed", "pgd"), "σ̂ (pp), after selection"] == ""
    assert table.loc[("seed", "pgd"), "runs, after selection"] == 1


def test_latex_escapes_cells_and_keeps_mathematics():
    assert escape("corruption=gaussian_noise/severity=1 & 5%") == r"corruption=gaussian\_noise/severity=1 \& 5\%"
    frame = pd.DataFrame({"intervention": ["pgd_linf/eps=1/255"], "sigma": ["0.40 [0.20, 0.80]"], "p": [np.nan]})
    latex = to_latex(frame, "a study_name", "tab:x", {"sigma": r"$\hat\sigma$ (pp)"})
    assert r"\toprule" in latex and r"\bottomrule" in latex and r"$\hat\sigma$ (pp)" in latex
    assert r"pgd\_linf/eps=1/255" in latex and "nan" not in latex and r"a study\_name" in latex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no LaTeX engine (pdflatex) on this machine")
def test_the_findings_table_compiles(tmp_path, sheet):
    (tmp_path / "findings.tex").write_text(findings_latex(findings_table(sheet, 0.95), "a_study"))
    document = "\\documentclass{article}\\usepackage{booktabs}\\begin{document}\\input{findings}\\end{document}\n"
    (tmp_path / "paper.tex").write_text(document)
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path, capture_output=True
    )
    assert done.returncode == 0, done.stdout.decode()[-2000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 1000
