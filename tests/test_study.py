import pytest

from multisheets.plan.jobs import plan_jobs
from multisheets.study.config import HYPERPARAMETER_DEFAULTS
from multisheets.study.runs import derive_seeds, expand_study, make_run_id


def test_run_ids_are_readable_and_stable():
    assert make_run_id({}, 3) == "base__seed=3"
    assert make_run_id({"lr": 0.05}, 3) == "lr=0.05__seed=3"
    assert make_run_id({"weight_decay": 5e-05, "augment": "none"}, 0) == "weight_decay=5e-05__augment=none__seed=0"
    assert make_run_id({"nesterov": False}, 1) == "nesterov=false__seed=1"


def test_run_id_rejects_unsafe_values():
    with pytest.raises(ValueError, match="run id"):
        make_run_id({"model": "a/b"}, 0)
    for ambiguous in ("a__b", "_a", "a_"):  # `__` separates a run id's parts
        with pytest.raises(ValueError, match="run id"):
            make_run_id({"augment": ambiguous}, 0)
    assert make_run_id({"augment": "crop_flip"}, 1) == "augment=crop_flip__seed=1"


def test_one_at_a_time_expansion_dedupes_the_base_value():
    config = {"base": {"lr": 0.1}, "dimensions": {"lr": [0.05, 0.1, 0.2], "augment": ["none"]}, "seeds": [0, 1]}
    ids = [run.run_id for run in expand_study(config)]
    assert ids == [
        "base__seed=0",
        "base__seed=1",
        "lr=0.05__seed=0",
        "lr=0.05__seed=1",
        "lr=0.2__seed=0",
        "lr=0.2__seed=1",
        "augment=none__seed=0",
        "augment=none__seed=1",
    ]


def test_adding_a_dimension_keeps_existing_run_ids():
    before = {"dimensions": {"lr": [0.05]}, "seeds": [0]}
    after = {"dimensions": {"lr": [0.05], "batch_size": [64]}, "seeds": [0]}
    old = {run.run_id: run.hyperparameters for run in expand_study(before)}
    new = {run.run_id: run.hyperparameters for run in expand_study(after)}
    assert all(new[run_id] == hp for run_id, hp in old.items())


def test_grid_expansion_covers_every_combination():
    config = {
        "base": {"lr": 0.1, "batch_size": 128},
        "dimensions": {"lr": [0.1, 0.2], "batch_size": [64, 128]},
        "grid": True,
        "seeds": [0],
    }
    ids = {run.run_id for run in expand_study(config)}
    assert ids == {"base__seed=0", "batch_size=64__seed=0", "lr=0.2__seed=0", "lr=0.2__batch_size=64__seed=0"}


def test_unknown_dimension_is_named():
    with pytest.raises(ValueError, match="dimensions.learning_rate"):
        expand_study({"dimensions": {"learning_rate": [0.1]}})


def test_seed_streams_are_independent_and_overridable():
    seeds = derive_seeds(3, HYPERPARAMETER_DEFAULTS)
    assert len(set(seeds.values())) == 3
    assert derive_seeds(3, HYPERPARAMETER_DEFAULTS) == seeds
    fixed = derive_seeds(4, {**HYPERPARAMETER_DEFAULTS, "init_seed": 7})
    assert fixed["init_seed"] == 7 and fixed["data_seed"] != seeds["data_seed"]


def test_jobs_cover_every_run_once_and_keep_finished_runs_where_they_were():
    runs = expand_study({"dimensions": {"lr": [0.05, 0.2]}, "seeds": [0, 1, 2]})
    jobs = plan_jobs(runs, {}, 4)
    assert [len(members) for members in jobs.values()] == [4, 4, 1]
    assert [run for members in jobs.values() for run in members] == runs
    assert len(plan_jobs(runs, {}, None)) == 1
    assert plan_jobs(runs, {}, 4) == jobs  # the same unfinished runs form the same jobs

    # Once trained, runs stay in their jobs; a new seed forms a job of its own, whatever the job size now.
    recorded = {run.run_id: name for name, members in jobs.items() for run in members}
    grown = expand_study({"dimensions": {"lr": [0.05, 0.2]}, "seeds": [0, 1, 2, 3]})
    regrouped = plan_jobs(grown, recorded, 2)
    for name, members in jobs.items():
        assert regrouped[name] == members
    new = [members for name, members in regrouped.items() if name not in jobs]
    assert [[run.seed for run in members] for members in new] == [[3, 3], [3]]


def test_settings_draw_independent_streams_unless_common_is_asked_for():
    config = {"base": {"lr": 0.1}, "dimensions": {"lr": [0.05], "batch_size": [64]}, "seeds": [0, 1]}
    independent = {run.run_id: run.seeds for run in expand_study(config)}
    common = {run.run_id: run.seeds for run in expand_study(config | {"seed_streams": "common"})}
    assert list(independent) == list(common)  # run ids never depend on the choice
    # base runs draw the plain seed's streams either way, so a finished base population stays valid
    assert independent["base__seed=0"] == common["base__seed=0"] == derive_seeds(0, HYPERPARAMETER_DEFAULTS)
    # common random numbers: a setting's seed-0 run starts where the base's does; independent: it does not
    assert common["lr=0.05__seed=0"] == common["batch_size=64__seed=0"] == common["base__seed=0"]
    draws = [independent[run]["init_seed"] for run in ("base__seed=0", "lr=0.05__seed=0", "batch_size=64__seed=0")]
    assert len(set(draws)) == 3
    for name in ("data_seed", "aug_seed"):
        assert independent["lr=0.05__seed=0"][name] != independent["base__seed=0"][name]
    assert independent["lr=0.05__seed=0"] != independent["lr=0.05__seed=1"]
    # explicit seeds still win
    pinned = expand_study(config | {"base": {"lr": 0.1, "init_seed": 7}})
    assert {run.seeds["init_seed"] for run in pinned} == {7}


def test_settings_that_would_share_a_run_id_are_refused():
    with pytest.raises(ValueError, match=r"run id 'lr=0.123456__seed=0'"):
        expand_study({"dimensions": {"lr": [0.1234561, 0.1234562]}, "seeds": [0]})
    with pytest.raises(ValueError, match=r"seeds: repeated values \[1\]"):
        expand_study({"seeds": [0, 1, 1]})
    # a value equal to the base's is the base run itself, not a collision
    assert [
        run.run_id for run in expand_study({"base": {"lr": 0.1}, "dimensions": {"lr": [0.1, 0.2]}, "seeds": [0]})
    ] == ["base__seed=0", "lr=0.2__seed=0"]


def test_jobs_are_named_after_their_runs():
    runs = expand_study({"dimensions": {"lr": [0.05, 0.2]}, "seeds": [0, 1, 2, 5]})
    assert list(plan_jobs(runs, {}, 6)) == [
        "base__seeds=0-2,5+lr=0.05__seeds=0-1",
        "lr=0.05__seeds=2,5+lr=0.2__seeds=0-2,5",
    ]
    many = expand_study({"dimensions": {"lr": [0.01, 0.02, 0.03, 0.04]}, "seeds": [0, 1]})
    assert list(plan_jobs(many, {}, None)) == ["base__seeds=0-1+8_runs"]  # a long name keeps its first setting
    # A job of other runs, recorded under the name these would get, keeps it; these get their members' digest.
    recorded = {"lr=0.2__seed=0": "base__seeds=0-2,5"}
    jobs = plan_jobs(runs[:4] + runs[8:9], recorded, 4)
    assert [run.run_id for run in jobs["base__seeds=0-2,5"]] == ["lr=0.2__seed=0"]
    (other,) = set(jobs) - {"base__seeds=0-2,5"}
    assert other.startswith("base__seeds=0-2,5_") and len(jobs[other]) == 4
