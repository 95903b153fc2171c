"""A groups CSV: user-defined subgroups of the held-out splits (``index,group[,split]``), checked and read.

Pandas and numpy only: the workflow checks the file before any job starts, and the subgroups family reads it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from multisheets.data.arrays import HELD_OUT_SPLITS


def subgroup_rows(groups_csv: str | Path, split: str, size: int | None = None):
    """The rows of a groups CSV that belong to `split` (no `split` column: all rows are test positions), checked:
    whole-number positions (within 0..size-1 when the split's `size` is given), each at most once per split, and a
    name for every group. Every error names the file and the offending rows (as line numbers of the file)."""
    table = pd.read_csv(groups_csv)
    if not {"index", "group"} <= set(table.columns):
        raise ValueError(f"{groups_csv}: needs columns 'index' and 'group', has {list(table.columns)}")

    def lines(mask) -> str:  # header is line 1
        numbers = [str(position + 2) for position in np.flatnonzero(np.asarray(mask))]
        return ", ".join(numbers[:5]) + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")

    if not pd.api.types.is_integer_dtype(table["index"]):
        numbers = pd.to_numeric(table["index"], errors="coerce")
        bad = numbers.isna() | (numbers != numbers.round())
        detail = f" (line {lines(bad)})" if bad.any() else " (they are written with a decimal point)"
        raise ValueError(f"{groups_csv}: column 'index' must hold whole numbers, positions in the split{detail}")
    unnamed = table["group"].isna() | (table["group"].astype(str).str.strip() == "")
    if unnamed.any():
        raise ValueError(f"{groups_csv}: rows without a group name (line {lines(unnamed)})")
    splits = table["split"] if "split" in table.columns else pd.Series("test", index=table.index)
    if not splits.isin(HELD_OUT_SPLITS).all():
        raise ValueError(f"{groups_csv}: column 'split' may only hold {' or '.join(HELD_OUT_SPLITS)}")
    in_split = (splits == split).to_numpy()
    rows = table[in_split]
    if rows.empty:
        raise ValueError(f"{groups_csv}: no rows for the {split} split")
    repeated = _duplicated_within(table, in_split)
    if repeated.any():
        raise ValueError(
            f"{groups_csv}: {split} positions listed more than once (line {lines(repeated)}); an image belongs "
            "to one group, and counting it twice would misstate the group's size"
        )
    if size is not None:
        outside = in_split & ~table["index"].between(0, size - 1).to_numpy()
        if outside.any():
            raise ValueError(f"{groups_csv}: {split} positions must lie in 0..{size - 1} (line {lines(outside)})")
    return rows.assign(group=rows["group"].astype(str))


def _duplicated_within(table, in_split: np.ndarray) -> np.ndarray:
    """Rows whose index repeats among the rows of the same split."""
    duplicated = np.zeros(len(table), dtype=bool)
    positions = np.flatnonzero(in_split)
    duplicated[positions] = table["index"].iloc[positions].duplicated(keep=False).to_numpy()
    return duplicated
