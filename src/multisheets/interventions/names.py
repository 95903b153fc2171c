"""Intervention names: the one place that builds or reads them.

Evaluation names what each family measures; the sheet stage adds summaries over those names; selection, sheets
and figures read them. Names are hierarchical, ``<kind>=<value>/<parameter>=<value>`` (``corruption=fog/severity=3``,
``pgd_linf/eps=2/255``, ``autoattack_linf/eps=8/255``, ``group=old``), or single words (``clean``, ``mia_loss``, and
the sheet's summaries ``corruption_mean``, ``worst_class``, ``worst_group``, ``ece``). The module needs no torch, so
sheets and figures, which read names only, run without it.

Which family owns which names, and the families' order and colours, are in `registry`.
"""

from __future__ import annotations

from fractions import Fraction

# Names a family measures.
CLEAN = "clean"
CORRUPTION_PREFIX = "corruption="
SEVERITY_PART = "/severity="
# The attacks `attacks.robust_predictions` runs: ours, then AutoAttack (torchattacks' implementation, optional).
AUTOATTACKS = ("autoattack_linf", "autoattack_l2")
ATTACKS = ("fgsm", "pgd_linf", "pgd_l2", *AUTOATTACKS)
MEMBERSHIP_PREFIX = "mia_"
MEMBERSHIP_SCORES = ("loss", "confidence")  # the per-example scores a membership attack thresholds
SHIFT_PREFIX = "shift="
GROUP_PREFIX = "group="

# Summaries the sheet stage derives from them (see `metrics_table.derived_metrics`).
CORRUPTION_MEAN = "corruption_mean"
WORST_CLASS = "worst_class"
WORST_GROUP = "worst_group"
ECE = "ece"


def corruption_name(corruption: str, severity: int) -> str:
    return f"{CORRUPTION_PREFIX}{corruption}{SEVERITY_PART}{severity}"


def attack_name(attack: str, norm: str, eps: float) -> str:
    return f"{attack}/eps={format_eps(eps, norm)}"


def format_eps(eps: float, norm: str) -> str:
    """L-inf budgets read as k/255 (as papers write them); L2 budgets as decimals."""
    if norm != "l2":
        fraction = Fraction(eps).limit_denominator(1000)
        return f"{fraction.numerator}/255" if fraction.denominator == 1 else f"{float(eps):g}/255"
    return f"{eps:g}"


def membership_name(score: str) -> str:
    return f"{MEMBERSHIP_PREFIX}{score}"


def shift_name(shift_set: str) -> str:
    return f"{SHIFT_PREFIX}{shift_set}"


def group_name(group: str) -> str:
    return f"{GROUP_PREFIX}{group}"


def group_of(intervention: str) -> str:
    """The subgroup a ``group=<name>`` intervention measures."""
    return intervention.removeprefix(GROUP_PREFIX)


def is_attack(intervention: str, attack: str) -> bool:
    return intervention.startswith(f"{attack}/")


# The adversarial family's attacks: (attack, norm, the setting that lists its budgets), in the order they run.
ATTACK_BUDGETS = (
    ("fgsm", "linf", "fgsm_eps"),
    ("pgd_linf", "linf", "linf_eps"),
    ("pgd_l2", "l2", "l2_eps"),
    ("autoattack_linf", "linf", "autoattack_eps"),
    ("autoattack_l2", "l2", "autoattack_l2_eps"),
)


def attack_budgets(settings: dict) -> list[tuple[str, str, float]]:
    """(attack, norm, eps) of every attack the `adversarial` settings ask for, in the order they run. A budget list
    left out is empty: settings written before AutoAttack existed have no `autoattack_*` lists."""
    return [(attack, norm, eps) for attack, norm, key in ATTACK_BUDGETS for eps in settings.get(key) or ()]


def asks_for_autoattack(settings: dict) -> bool:
    return any(attack in AUTOATTACKS for attack, _, _ in attack_budgets(settings))


def shift_sets(settings: dict) -> list[str]:
    """Names of the extra test sets the `shift` settings list: CIFAR-10.1 when asked for, then the folders."""
    return (["cifar10_1"] if settings.get("cifar10_1") else []) + list(settings.get("imagefolders") or {})


def summary_interventions(measured: list[str]) -> list[str]:
    """The summaries the metrics table derives from these measured interventions (`metrics_table.derived_metrics`)."""
    summaries = list(aggregates(measured))
    if CLEAN in measured:
        summaries += [WORST_CLASS, ECE]
    if any(name.startswith(GROUP_PREFIX) for name in measured):
        summaries.append(WORST_GROUP)
    return summaries


def aggregates(interventions: list[str]) -> dict[str, list[str]]:
    """Summary interventions over instances: ``corruption=fog`` (its severities) and ``corruption_mean``."""
    groups: dict[str, list[str]] = {}
    for name in interventions:
        if name.startswith(CORRUPTION_PREFIX) and SEVERITY_PART in name:
            groups.setdefault(name.split("/", 1)[0], []).append(name)
            groups.setdefault(CORRUPTION_MEAN, []).append(name)
    return groups


def headline_interventions(names: list[str]) -> list[str]:
    """A readable subset for figures with one panel or line per intervention: clean, the corruption mean, the
    two smallest L-inf PGD budgets, fairness, the loss-based membership attack, shift sets and calibration."""
    pgd = [name for name in names if is_attack(name, "pgd_linf")][:2]
    keep = {CLEAN, CORRUPTION_MEAN, WORST_CLASS, WORST_GROUP, membership_name("loss"), ECE, *pgd}
    return [name for name in names if name in keep or name.startswith(SHIFT_PREFIX)]
