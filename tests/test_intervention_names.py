"""The intervention-name grammar, and the family registry: every name a family builds is read back to that family."""

from multisheets.infra.lazy import resolve
from multisheets.interventions import names
from multisheets.interventions.families import LoadedFamily
from multisheets.interventions.registry import FAMILIES, colour_of, column_groups, family_of


def test_every_built_name_belongs_to_its_family():
    built = {
        "clean": [names.CLEAN],
        "corruption": [names.corruption_name("fog", 3), names.CORRUPTION_MEAN],
        "adversarial": [names.attack_name(attack, "linf", 2) for attack in names.ATTACKS],
        "privacy": [names.membership_name(score) for score in names.MEMBERSHIP_SCORES],
        "shift": [names.shift_name("cifar10_1")],
        "subgroups": [names.group_name("old"), names.WORST_GROUP],
    }
    for family, family_names in built.items():
        assert {family_of(name) for name in family_names} == {family}, family
    assert family_of(names.WORST_CLASS) == family_of(names.ECE) == "clean"
    assert family_of("fog") is None


def test_names_read_as_the_workflow_writes_them():
    assert names.corruption_name("fog", 3) == "corruption=fog/severity=3"
    assert names.attack_name("pgd_linf", "linf", 2) == "pgd_linf/eps=2/255"
    assert names.attack_name("pgd_l2", "l2", 0.25) == "pgd_l2/eps=0.25"
    assert names.attack_name("autoattack_linf", "linf", 8) == "autoattack_linf/eps=8/255"
    assert names.attack_name("autoattack_l2", "l2", 0.5) == "autoattack_l2/eps=0.5"
    assert [names.membership_name(score) for score in names.MEMBERSHIP_SCORES] == ["mia_loss", "mia_confidence"]
    assert names.group_of(names.group_name("old")) == "old" and names.shift_name("x") == "shift=x"


def test_headline_interventions_keep_the_summaries_and_two_smallest_pgd_budgets():
    all_names = [
        "clean",
        "corruption=fog/severity=1",
        "corruption_mean",
        "fgsm/eps=1/255",
        "pgd_linf/eps=1/255",
        "pgd_linf/eps=2/255",
        "pgd_linf/eps=8/255",
        "mia_loss",
        "mia_confidence",
        "shift=x",
        "group=a",
        "worst_group",
        "worst_class",
        "ece",
    ]
    assert names.headline_interventions(all_names) == [
        "clean",
        "corruption_mean",
        "pgd_linf/eps=1/255",
        "pgd_linf/eps=2/255",
        "mia_loss",
        "shift=x",
        "worst_group",
        "worst_class",
        "ece",
    ]


def test_every_family_has_a_place_in_the_sheet_order_and_a_class_that_evaluates_it():
    assert column_groups() == (
        "clean",
        "corruption",
        "adversarial",
        "fairness",
        "subgroups",
        "privacy",
        "shift",
        "calibration",
    )
    for name, family in FAMILIES.items():
        assert issubclass(resolve(family.evaluator), LoadedFamily), name
        assert colour_of(name).startswith("tab:")


def test_autoattack_budgets_are_adversarial_interventions_after_pgd():
    """AutoAttack runs after our attacks and is planned as the family measures it; settings written before it
    existed (no `autoattack_*` lists) ask for none."""
    from multisheets.interventions.registry import planned_interventions

    before = {"fgsm_eps": [2], "linf_eps": [1], "l2_eps": [0.25]}
    assert not names.asks_for_autoattack(before)
    assert planned_interventions("adversarial", before) == ["fgsm/eps=2/255", "pgd_linf/eps=1/255", "pgd_l2/eps=0.25"]
    settings = before | {"autoattack_eps": [8, 0.5], "autoattack_l2_eps": [0.5]}
    assert names.asks_for_autoattack(settings)
    assert planned_interventions("adversarial", settings)[3:] == [
        "autoattack_linf/eps=8/255",
        "autoattack_linf/eps=0.5/255",
        "autoattack_l2/eps=0.5",
    ]
    assert {family_of(name) for name in planned_interventions("adversarial", settings)} == {"adversarial"}
    assert names.headline_interventions(["clean", "autoattack_linf/eps=8/255"]) == ["clean"]  # PGD's place
