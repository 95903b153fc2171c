"""Tables as booktabs LaTeX, ready for a paper: pandas' Styler writes them, the cells are escaped here.

A table needs ``\\usepackage{booktabs}`` (and nothing else) in the document that inputs it.
"""

from __future__ import annotations

import pandas as pd


def escape(text: object) -> str:
    """LaTeX's special characters in a cell or a header, written so that they print as themselves."""
    replacements = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
    }
    return "".join(replacements.get(character, character) for character in str(text))


def to_latex(frame: pd.DataFrame, caption: str, label: str, headers: dict[str, str] | None = None) -> str:
    """A booktabs table of `frame` (its index is not shown). `headers`: column -> LaTeX header written as is (for
    mathematics such as ``$\\hat\\sigma$``); every other header and every cell is escaped."""
    headers = headers or {}
    shown = frame.reset_index(drop=True).astype(object).where(frame.notna().reset_index(drop=True), "")
    shown = shown.map(escape)
    shown.columns = [headers.get(column, escape(column)) for column in frame.columns]
    styler = shown.style.hide(axis="index")
    return styler.to_latex(
        caption=escape(caption),
        label=label,
        hrules=True,  # booktabs' \toprule, \midrule, \bottomrule
        column_format="l" * len(shown.columns),
        position="htbp",
    )
