"""A run is trained once: training keys, the model cache, and a job that restores instead of retraining."""

import json
import os
from pathlib import Path

import pytest
import torch
from conftest import TINY_DATA

from multisheets.data.arrays import load_info
from multisheets.data.prepare import prepare
from multisheets.infra.files import write_atomically
from multisheets.plan.identity import training_key
from multisheets.plan.jobs import recorded_job
from multisheets.study.runs import expand_study
from multisheets.train.loop import saving_failed, train_batch
from multisheets.train.model_cache import ModelCache, legacy_data_fingerprint

TINY = {"model": "cnn", "width": 8, "epochs": 1, "batch_size": 32, "lr": 0.05, "warmup_epochs": 0}


def test_training_key_follows_what_determines_the_weights_and_nothing_else():
    (run,) = expand_study({"base": TINY, "seeds": [0]})
    key = training_key(run, "auto")
    assert training_key(expand_study({"base": TINY, "seeds": [0]})[0], "auto") == key  # stable
    assert training_key(run, "fp32") != key
    assert training_key(expand_study({"base": TINY, "seeds": [1]})[0], "auto") != key
    assert training_key(expand_study({"base": {**TINY, "lr": 0.06}, "seeds": [0]})[0], "auto") != key
    # Common seed streams change the streams of varied settings only; base runs keep theirs.
    varied = {"base": TINY, "dimensions": {"lr": [0.1]}, "seeds": [0]}
    independent = {run.run_id: training_key(run, "auto") for run in expand_study(varied)}
    common = {run.run_id: training_key(run, "auto") for run in expand_study({**varied, "seed_streams": "common"})}
    assert independent["base__seed=0"] == common["base__seed=0"]
    assert independent["lr=0.1__seed=0"] != common["lr=0.1__seed=0"]


def test_adding_a_hyperparameter_at_its_neutral_value_retrains_nothing(monkeypatch):
    """A study's code grows a hyperparameter (here `dropout`, 0 = the old behaviour): the runs that leave it at 0
    keep their keys, so their models are restored, while a run that sets it is a new model."""
    from multisheets.plan import identity
    from multisheets.study import config

    (run,) = expand_study({"base": TINY, "seeds": [0]})
    before = training_key(run, "auto")
    monkeypatch.setitem(config.HYPERPARAMETER_DEFAULTS, "dropout", 0.0)
    (grown,) = expand_study({"base": TINY, "seeds": [0]})
    assert grown.hyperparameters["dropout"] == 0.0 and training_key(grown, "auto") != before  # unregistered
    monkeypatch.setitem(identity.ADDED_HYPERPARAMETERS, "dropout", 0.0)
    assert training_key(grown, "auto") == before
    (other,) = expand_study({"base": {**TINY, "dropout": 0.1}, "seeds": [0]})
    assert training_key(other, "auto") != before


def synthetic(tmp_path: Path, name: str, **changes) -> dict:
    """Prepare the conftest's tiny synthetic data with some settings changed; its dataset.json."""
    settings = TINY_DATA | {"synthetic": TINY_DATA["synthetic"] | changes}
    return prepare(settings, tmp_path / name)


def test_the_data_fingerprint_is_the_content_training_reads(tmp_path):
    same = synthetic(tmp_path, "a"), synthetic(tmp_path, "b")
    assert same[0]["fingerprint"] == same[1]["fingerprint"]
    # Every setting that changes the training images is another fingerprint: image_size was left out of the
    # earlier one (the source checksum named only the synthetic seed), so models were restored onto 20 px images.
    for change in ({"image_size": 20}, {"train_per_class": 61}, {"num_classes": 5}, {"seed": 1}):
        assert synthetic(tmp_path, str(change), **change)["fingerprint"] != same[0]["fingerprint"], change
    # The test split is not what a model was trained on: its models are still the same models.
    assert synthetic(tmp_path, "more-test", test_per_class=21)["fingerprint"] == same[0]["fingerprint"]


def test_a_model_cached_by_an_earlier_version_is_restored_under_the_new_fingerprint(data_dir, cpu, tmp_path):
    (run,) = expand_study({"base": TINY, "seeds": [0]})
    key, info = training_key(run, "auto"), load_info(data_dir)
    cache = ModelCache(tmp_path / "cache")
    models, logs = paths(tmp_path / "first", [run], [key])
    train_batch([run], data_dir, models, logs, cpu, False, cache, [key], job="j1")
    # Rename the entry as the earlier version named it (source checksum + split instead of the content).
    for current, legacy in zip(cache.entry(key, info["fingerprint"]), cache.entry(key, legacy_data_fingerprint(info))):
        current.rename(legacy)
    earlier = os.stat(cache.entry(key, legacy_data_fingerprint(info))[0]).st_ino
    models, logs = paths(tmp_path / "again", [run], [key])
    (summary,) = train_batch([run], data_dir, models, logs, cpu, False, cache, [key], job="j2")
    assert os.stat(models[0]).st_ino == earlier  # restored, not retrained
    assert summary["data_fingerprint"] == info["fingerprint"] and summary["job"] == "j2"


def test_an_earlier_synthetic_entry_is_never_taken_for_other_data(tmp_path):
    """The earlier synthetic checksum named only the seed: the current one names every setting, so an entry named
    after the earlier fingerprint of 16 px images cannot match 20 px images (or even the same images)."""
    small, large = synthetic(tmp_path, "16", image_size=16), synthetic(tmp_path, "20", image_size=20)
    assert legacy_data_fingerprint(small) != legacy_data_fingerprint(large)
    earlier = small | {"checksum": "synthetic:seed=0"}
    assert legacy_data_fingerprint(earlier) not in {legacy_data_fingerprint(small), legacy_data_fingerprint(large)}


def test_an_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "model.pt"

    def fail(path):
        path.write_bytes(b"half a model")
        raise OSError("No space left on device")

    with pytest.raises(OSError):
        write_atomically(target, fail)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_named_as_such(tmp_path):
    message = saving_failed(
        tmp_path / "model.pt", RuntimeError("[enforce fail at inline_container.cc:778] . unexpected pos")
    )
    assert "MiB free" in message and "full disk" in message and "model.pt" in message


def paths(root: Path, runs, keys):
    return (
        [str(root / run.run_id / f"model-{key}.pt") for run, key in zip(runs, keys)],
        [str(root / run.run_id / f"train_log-{key}.json") for run, key in zip(runs, keys)],
    )


def test_a_job_restores_cached_runs_and_trains_only_the_others(data_dir, cpu, tmp_path):
    runs = expand_study({"base": TINY, "seeds": [0, 1, 2]})
    keys = [training_key(run, "auto") for run in runs]
    cache = ModelCache(tmp_path / "cache")
    first_models, first_logs = paths(tmp_path / "first", runs[:2], keys[:2])
    train_batch(runs[:2], data_dir, first_models, first_logs, cpu, False, cache, keys[:2], job="j1")
    fingerprint = load_info(data_dir)["fingerprint"]
    cached = {key: os.stat(cache.entry(key, fingerprint)[0]).st_ino for key in keys[:2]}
    assert json.loads(Path(first_logs[0]).read_text())["job"] == "j1"

    # The job that failed is gone with its declared outputs; the rerun holds all three runs in a new job.
    models, logs = paths(tmp_path / "rerun", runs, keys)
    summaries = train_batch(runs, data_dir, models, logs, cpu, False, cache, keys, job="j2")
    for key, model in zip(keys[:2], models[:2]):
        assert os.stat(model).st_ino == cached[key]  # the cached file itself (a hard link), not a retrained one
    assert [summary["job"] for summary in summaries] == ["j2"] * 3
    assert summaries[0]["started"] == json.loads(Path(first_logs[0]).read_text())["started"]
    assert cache.contains(keys[2], fingerprint)
    for first, again in zip(first_models, models[:2]):
        a, b = torch.load(first, weights_only=True), torch.load(again, weights_only=True)
        assert all(torch.equal(a["state_dict"][name], b["state_dict"][name]) for name in a["state_dict"])

    # Other data (here: another fingerprint) is never restored.
    assert not cache.contains(keys[0], "0" * 12)
    assert recorded_job(logs[2]) == "j2"
    Path(models[2]).unlink()
    assert recorded_job(logs[2]) is None  # a run needs both files to count as trained


def test_a_model_from_before_training_keys_is_taken_over_not_retrained(data_dir, cpu, tmp_path):
    runs = expand_study({"base": TINY, "seeds": [0, 1]})
    keys = [training_key(run, "auto") for run in runs]
    run_dirs = [tmp_path / "runs" / run.run_id for run in runs]
    # The earlier layout: results/runs/<run_id>/model.pt and train_log.json; only seed 0 was trained.
    train_batch(runs[:1], data_dir, [str(run_dirs[0] / "model.pt")], [str(run_dirs[0] / "train_log.json")], cpu, False)
    earlier = os.stat(run_dirs[0] / "model.pt").st_ino
    cache = ModelCache(tmp_path / "cache")
    models = [str(d / f"model-{key}.pt") for d, key in zip(run_dirs, keys)]
    logs = [str(d / f"train_log-{key}.json") for d, key in zip(run_dirs, keys)]
    summaries = train_batch(runs, data_dir, models, logs, cpu, False, cache, keys, job="j")
    assert os.stat(models[0]).st_ino == earlier
    assert summaries[0]["training_key"] == keys[0] and summaries[1]["training_key"] == keys[1]
