"""Intervention families by name: what each one is, known before anything runs, and which class evaluates it.

A family turns a trained model into predictions on one or more named interventions. Its entry says what the
workflow needs to plan and check a study without torch: the interventions it measures with given settings, which
names (and summaries) are its own, the prepared files it reads, whether model selection may read it on the
validation split, and its colour in figures. The evaluation is a `LoadedFamily` subclass (`families`, torch),
imported only by the jobs that evaluate. A new family is one entry here and its class; its settings, if it has
any, are a block under `interventions:` in the schema.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from multisheets.interventions.names import (
    ATTACKS,
    CLEAN,
    CORRUPTION_MEAN,
    CORRUPTION_PREFIX,
    ECE,
    GROUP_PREFIX,
    MEMBERSHIP_PREFIX,
    MEMBERSHIP_SCORES,
    SHIFT_PREFIX,
    WORST_CLASS,
    WORST_GROUP,
    attack_budgets,
    attack_name,
    corruption_name,
    group_name,
    membership_name,
    shift_name,
    shift_sets,
)


@dataclass(frozen=True)
class Family:
    """An intervention family, as the workflow plans with it."""

    evaluator: str  # "module:Class" of the LoadedFamily subclass that evaluates it (imported by evaluation jobs)
    names: Callable[[dict[str, Any], str], list[str]]  # (its settings, the split) -> the interventions it measures
    prefixes: tuple[str, ...] = ()  # name prefixes of what it measures
    owns: tuple[str, ...] = ()  # whole names it owns besides: its measured single-word names and their summaries
    reads: str | None = None  # prepared files besides the splits: "corrupted_sets", "shift_sets" or "groups_csv"
    selection_split: bool = True  # False: reporting only, there is no validation copy to select on
    same_inputs: bool = True  # False: each run sees its own inputs (attacks), so no ensembles or abstention
    colour: str | None = None  # in figures (None: gray)


def _group_names(settings: dict[str, Any], split: str) -> list[str]:
    from multisheets.data.subgroups import subgroup_rows  # pandas: only where a study lists subgroups

    return [group_name(group) for group in sorted(subgroup_rows(settings["groups_csv"], split)["group"].unique())]


EVALUATORS = "multisheets.interventions.families"

# In the order of the sheet's column groups (see COLUMN_GROUPS).
FAMILIES: dict[str, Family] = {
    "clean": Family(
        f"{EVALUATORS}:CleanFamily",
        names=lambda settings, split: [CLEAN],
        owns=(CLEAN, WORST_CLASS, ECE),
        colour="tab:blue",
    ),
    "corruption": Family(
        f"{EVALUATORS}:CorruptionFamily",
        names=lambda settings, split: [
            corruption_name(kind, severity) for kind in settings["types"] for severity in settings["severities"]
        ],
        prefixes=(CORRUPTION_PREFIX,),
        owns=(CORRUPTION_MEAN,),
        reads="corrupted_sets",
        colour="tab:orange",
    ),
    "adversarial": Family(
        f"{EVALUATORS}:AdversarialFamily",
        names=lambda settings, split: [attack_name(*attack) for attack in attack_budgets(settings)],
        prefixes=tuple(f"{attack}/" for attack in ATTACKS),
        same_inputs=False,
        colour="tab:red",
    ),
    "subgroups": Family(
        f"{EVALUATORS}:SubgroupFamily",
        names=_group_names,
        prefixes=(GROUP_PREFIX,),
        owns=(WORST_GROUP,),
        reads="groups_csv",
    ),
    "privacy": Family(
        f"{EVALUATORS}:PrivacyFamily",
        names=lambda settings, split: [membership_name(score) for score in MEMBERSHIP_SCORES],
        prefixes=(MEMBERSHIP_PREFIX,),
        colour="tab:brown",
    ),
    "shift": Family(
        f"{EVALUATORS}:ShiftFamily",
        names=lambda settings, split: [shift_name(name) for name in shift_sets(settings)],
        prefixes=(SHIFT_PREFIX,),
        reads="shift_sets",
        selection_split=False,
        colour="tab:green",
    ),
}

# The sheet's own summary groups, which no family evaluates: the metrics table files worst class and worst group
# under `fairness`, ECE under `calibration`.
SUMMARY_GROUP_COLOURS = {"fairness": "tab:purple", "calibration": None}


def column_groups() -> tuple[str, ...]:
    """The sheet's column groups in order: the families, with fairness after the attacks, calibration last."""
    families = list(FAMILIES)
    at = families.index("adversarial") + 1 if "adversarial" in families else len(families)
    return (*families[:at], "fairness", *families[at:], "calibration")


def colour_of(group: str) -> str:
    """A column group's colour in figures: its family's, a summary group's, or gray."""
    family = FAMILIES.get(group)
    colour = family.colour if family else SUMMARY_GROUP_COLOURS.get(group)
    return colour or "tab:gray"


def family_of(intervention: str) -> str | None:
    """The family whose evaluation produces `intervention`, or whose measurements it summarises (None: no family)."""
    for name, family in FAMILIES.items():
        if intervention in family.owns:
            return name
    for name, family in FAMILIES.items():
        if intervention.startswith(family.prefixes):
            return name
    return None


def planned_interventions(family: str, settings: dict[str, Any], split: str = "test") -> list[str]:
    """The interventions a family measures on a split with these settings, named as its evaluation names them."""
    if family not in FAMILIES:
        raise ValueError(f"unknown intervention family {family!r} (known: {', '.join(FAMILIES)})")
    return FAMILIES[family].names(settings, split)


# AutoAttack runs torchattacks' implementation, an optional dependency: installed without its dependencies, since
# it pins requests~=2.25, which would downgrade requests and urllib3 for the whole environment.
TORCHATTACKS = "torchattacks>=3.5"
INSTALL_TORCHATTACKS = f'pip install --no-deps "{TORCHATTACKS}"'
# Its targeted APGD's loss reads the four largest logits: with fewer classes it fails inside torchattacks.
AUTOATTACK_MIN_CLASSES = 4


def torchattacks_problem() -> str | None:
    """Why AutoAttack cannot run here (torchattacks missing or older than 3.5), or None. Torch-free: it asks the
    installed package's metadata, without importing it."""
    if importlib.util.find_spec("torchattacks") is None:
        return "torchattacks is not installed"
    try:
        version = importlib.metadata.version("torchattacks")
    except importlib.metadata.PackageNotFoundError:  # importable without metadata (a source checkout): trust it
        return None
    release = re.match(r"(\d+)\.(\d+)", version)
    if release is None or tuple(map(int, release.groups())) < (3, 5):
        return f"torchattacks {version} is installed, AutoAttack needs {TORCHATTACKS}"
    return None
