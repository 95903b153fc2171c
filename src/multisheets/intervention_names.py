"""Intervention names and the summaries that group them, apart from the code that produces the interventions.

Sheets and figures read names only; keeping this here (not in `interventions`, which needs torch) lets them run
without importing torch.
"""

from __future__ import annotations


def aggregates(interventions: list[str]) -> dict[str, list[str]]:
    """Summary interventions over instances: ``corruption=fog`` (its severities) and ``corruption_mean``."""
    groups: dict[str, list[str]] = {}
    for name in interventions:
        if name.startswith("corruption=") and "/severity=" in name:
            groups.setdefault(name.split("/", 1)[0], []).append(name)
            groups.setdefault("corruption_mean", []).append(name)
    return groups
