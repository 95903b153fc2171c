"""The training sample, label noise and the starting checkpoint as sources of multiplicity (issue 21, items 3-4)."""

import numpy as np
import pytest
import torch
from test_interventions import evaluate, synthetic_dir

from multisheets.models.checkpoint import read_checkpoint
from multisheets.plan.identity import training_key
from multisheets.plan.preflight import check_starts
from multisheets.study.runs import derive_seeds, expand_study
from multisheets.study.sample import noisy_labels, training_sample
from multisheets.train.loop import train_batch

TINY = {"model": "cnn", "width": 8, "epochs": 2, "batch_size": 16, "lr": 0.05, "warmup_epochs": 0}


def runs_for(base=None, dimensions=None, seeds=(0,)):
    return expand_study({"base": TINY | (base or {}), "dimensions": dimensions or {}, "seeds": list(seeds)})


def train(runs, data_dir, cpu, out):
    models = [str(out / run.run_id / "model.pt") for run in runs]
    logs = [str(out / run.run_id / "train_log.json") for run in runs]
    return train_batch(runs, data_dir, models, logs, cpu, show_progress=False), models


# --- what is drawn ----------------------------------------------------------------------------------------------


def test_todays_runs_keep_their_seeds_and_training_keys():
    """Pinned on the code before these settings existed (commit d3a6edb): no finished model is retrained."""
    (run,) = expand_study({"base": {"model": "cnn"}, "seeds": [0]})
    assert run.seeds == {"init_seed": 2968811710, "data_seed": 3677149159, "aug_seed": 745650761}
    assert training_key(run, "fp32") == "4c2652d69354"


def test_only_runs_that_draw_a_sample_or_flip_labels_get_those_streams():
    base = derive_seeds(3, {})
    sampled = derive_seeds(3, {"train_fraction": 0.5})
    noisy = derive_seeds(3, {"bootstrap": True, "label_noise": 0.1})
    assert set(base) == {"init_seed", "data_seed", "aug_seed"}
    assert {k: sampled[k] for k in base} == base and "sample_seed" in sampled and "label_noise_seed" not in sampled
    assert {"sample_seed", "label_noise_seed"} <= set(noisy) and noisy["sample_seed"] == sampled["sample_seed"]
    assert derive_seeds(3, {"train_fraction": 0.5, "sample_seed": 7})["sample_seed"] == 7


def test_a_sample_without_replacement_and_a_bootstrap():
    seeds = {"sample_seed": 11}
    assert training_sample({"train_fraction": 1.0}, seeds, 1000) is None
    half = training_sample({"train_fraction": 0.5}, seeds, 1000)
    assert len(half) == 500 == len(np.unique(half)) and np.all(np.diff(half) > 0)
    assert np.array_equal(half, training_sample({"train_fraction": 0.5}, seeds, 1000))
    assert not np.array_equal(half, training_sample({"train_fraction": 0.5}, {"sample_seed": 12}, 1000))
    boot = training_sample({"train_fraction": 1.0, "bootstrap": True}, seeds, 10_000)
    assert len(boot) == 10_000 and 0.60 < len(np.unique(boot)) / 10_000 < 0.66  # 1 - 1/e = 0.632


def test_label_noise_flips_exactly_its_fraction_to_other_classes():
    labels = np.arange(1000) % 10
    noisy = noisy_labels({"label_noise": 0.2}, {"label_noise_seed": 5}, labels, 10)
    flipped = noisy != labels
    assert flipped.sum() == 200 and noisy.min() >= 0 and noisy.max() <= 9
    # uniform over the 9 other classes: every one is reached
    assert len(np.unique((noisy[flipped] - labels[flipped]) % 10)) == 9
    assert noisy_labels({"label_noise": 0.0}, {}, labels, 10) is labels


def test_a_checkpoint_is_named_by_its_file_and_keyed_by_its_content(tmp_path):
    # (one file name throughout: a setting's name also seeds its runs' streams)
    first, copy, other = (tmp_path / folder / "resnet50-0676ba61.pth" for folder in ("a", "copy", "other"))
    for path, content in ((first, b"weights"), (copy, b"weights"), (other, b"other weights")):
        path.parent.mkdir()
        path.write_bytes(content)
    (run,) = runs_for(dimensions={"init": [str(first)]})[1:]
    assert run.run_id == "init=resnet50-0676ba61__seed=0"
    (same,) = runs_for(dimensions={"init": [str(copy)]})[1:]
    (changed,) = runs_for(dimensions={"init": [str(other)]})[1:]
    assert training_key(run, "fp32") == training_key(same, "fp32") != training_key(changed, "fp32")


def test_a_linear_probe_from_scratch_and_a_missing_checkpoint_are_refused(tmp_path):
    with pytest.raises(ValueError, match="linear_probe needs a checkpoint"):
        check_starts(runs_for({"finetune": "linear_probe"}))
    with pytest.raises(ValueError, match="is not a file"):
        check_starts(runs_for({"init": str(tmp_path / "missing.pt")}))


def test_a_batch_larger_than_the_sample_is_refused(data_dir, cpu, tmp_path):
    runs = runs_for({"train_fraction": 0.05, "batch_size": 32})  # 180 training images: a sample of 9
    with pytest.raises(ValueError, match="9 images its train_fraction draws of the 180 training images"):
        train(runs, data_dir, cpu, tmp_path)


# --- training on them -------------------------------------------------------------------------------------------


def test_a_sampled_run_records_its_sample_and_a_noisy_one_its_flips(data_dir, cpu, tmp_path):
    runs = runs_for(dimensions={"train_fraction": [0.5], "label_noise": [0.25]})
    summaries, models = train(runs, data_dir, cpu, tmp_path)
    by_id = {summary["run_id"]: (summary, read_checkpoint(model)) for summary, model in zip(summaries, models)}
    base, base_checkpoint = by_id["base__seed=0"]
    assert "training_data" not in base and base_checkpoint["train_indices"] is None
    assert "train_indices" not in torch.load(models[0], weights_only=True)  # today's file layout, unchanged
    sampled, checkpoint = by_id["train_fraction=0.5__seed=0"]
    expected = training_sample(sampled["hyperparameters"], sampled["seeds"], 180)
    assert np.array_equal(checkpoint["train_indices"].numpy(), expected)
    assert sampled["training_data"] == {"sample_size": 90, "distinct_images": 90}
    noisy, _ = by_id["label_noise=0.25__seed=0"]
    assert noisy["training_data"] == {"flipped_labels": 45}


def test_membership_is_scored_on_the_members_a_sampled_run_saw(cpu, tmp_path):
    """The drawn members a run never trained on are neither members nor non-members of its attack."""
    small = synthetic_dir(tmp_path / "data", 40, 20, 5, seed=1)  # 40 training images, 40 held-out
    runs = runs_for({"train_fraction": 0.5, "batch_size": 8, "epochs": 1})
    _, (model,) = train(runs, small, cpu, tmp_path)
    table, _ = evaluate("privacy", model, small, cpu, tmp_path, {"n": 40, "seed": 0})
    seen = read_checkpoint(model)["train_indices"].numpy()
    assert len(seen) == 20
    drawn = np.random.default_rng(0).choice(40, 20, replace=False)  # the family's members: n = the 20 test images
    true_members = int(np.isin(drawn, seen).sum())
    assert 0 < true_members < 20
    # the attack's evaluation half: 2 x (m - m // 2) of the m true members, not of all 20 drawn
    assert table.loc["mia_loss", "n"] == 2 * (true_members - true_members // 2) < 20


def test_fine_tuning_and_a_linear_probe_start_from_the_checkpoint(data_dir, cpu, tmp_path):
    (_, (pretrained,)) = train(runs_for(seeds=[5]), data_dir, cpu, tmp_path / "pretrained")
    start = read_checkpoint(pretrained)["state_dict"]
    runs = runs_for({"init": str(pretrained), "epochs": 1}, {"finetune": ["linear_probe"]})
    _, models = train(runs, data_dir, cpu, tmp_path / "tuned")
    (_, (scratch,)) = train(runs_for({"epochs": 1}), data_dir, cpu, tmp_path / "scratch")
    tuned, probe, scratch = (read_checkpoint(model)["state_dict"] for model in (*models, scratch))
    head = {"backbone.8.weight", "backbone.8.bias"}  # the small CNN's linear layer

    def distance(state):
        return sum(float((state[name] - start[name]).float().norm()) for name in start if name.endswith("weight"))

    # Fine-tuning moves every weight, but stays much nearer the checkpoint than a run from scratch.
    assert not torch.equal(tuned["backbone.0.0.weight"], start["backbone.0.0.weight"])
    assert distance(tuned) < 0.5 * distance(scratch)
    # The probe trains its fresh head only: every other tensor, batch-norm statistics included, is the checkpoint's.
    assert all(torch.equal(probe[name], start[name]) for name in start if name not in head)
    assert not torch.equal(probe["backbone.8.weight"], start["backbone.8.weight"])


def test_a_checkpoint_of_another_architecture_fails_before_training(data_dir, cpu, tmp_path):
    other = tmp_path / "resnet.pt"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(1000, 512)}, other)
    with pytest.raises(ValueError, match=r"matches 0 of the \d+ weight tensors of model cnn"):
        train(runs_for({"init": str(other)}), data_dir, cpu, tmp_path)
    assert not list(tmp_path.rglob("model.pt"))


def test_a_log_from_before_these_settings_is_the_same_run():
    """Models from before training keys are adopted by comparing logged hyperparameters, which lack the new ones."""
    from multisheets.train.model_cache import same_hyperparameters

    (run,) = runs_for()
    logged = {name: value for name, value in run.hyperparameters.items() if name not in ("init", "train_fraction")}
    assert same_hyperparameters(logged, run.hyperparameters)
    (sampled,) = runs_for({"train_fraction": 0.5})
    assert not same_hyperparameters(logged, sampled.hyperparameters)
