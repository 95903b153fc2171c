"""What the rules used to compute themselves: the runs table's records (library) and the subgroups check (schema)."""

import pytest

from multisheets.plan.schema import validate_study
from multisheets.study.runs import expand_study, run_records


def test_run_records_name_what_each_run_varied():
    runs = expand_study({"base": {"lr": 0.1}, "dimensions": {"lr": [0.05]}, "seeds": [0]})
    records = run_records(runs, ["lr"], {"base__seed=0": "k0-d", "lr=0.05__seed=0": "k1-d"})
    assert [(r["run_id"], r["dimension"], r["lr"], r["model_key"]) for r in records] == [
        ("base__seed=0", "", 0.1, "k0-d"),
        ("lr=0.05__seed=0", "lr", 0.05, "k1-d"),
    ]
    assert set(records[0]) == {"run_id", "setting", "seed", "dimension", "lr", "model_key"}


@pytest.mark.parametrize("subgroups", [None, {}, {"groups_csv": None}, {"groups_csv": ""}])
def test_listing_subgroups_needs_its_groups(subgroups):
    interventions = {"families": ["clean", "subgroups"]} | ({"subgroups": subgroups} if subgroups is not None else {})
    with pytest.raises(ValueError):
        validate_study({"study": "s", "seeds": [0], "interventions": interventions})


def test_subgroups_with_groups_or_not_listed_are_valid():
    validate_study({"study": "s", "seeds": [0], "interventions": {"families": ["clean"]}})
    validate_study(
        {
            "study": "s",
            "seeds": [0],
            "interventions": {"families": ["subgroups"], "subgroups": {"groups_csv": "groups.csv"}},
        }
    )


def test_a_misspelt_families_list_is_named_as_such():
    """`families: clean` (a string) once got the message "'subgroups' is a required property"."""
    with pytest.raises(ValueError, match="is not of type 'array'") as error:
        validate_study({"study": "s", "seeds": [0], "interventions": {"families": "clean"}})
    assert "subgroups" not in str(error.value)
