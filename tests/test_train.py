import json

import numpy as np
import pytest
import torch

from multisheets.optim import lr_factor
from multisheets.study import expand_study
from multisheets.train import augment, train_batch

TINY = {"model": "cnn", "width": 8, "epochs": 2, "batch_size": 32, "lr": 0.05, "warmup_epochs": 0}


def runs_for(config):
    return expand_study({"base": TINY, **config})


def train(runs, data_dir, cpu, tmp_path):
    models = [str(tmp_path / run.run_id / "model.pt") for run in runs]
    logs = [str(tmp_path / run.run_id / "train_log.json") for run in runs]
    return train_batch(runs, data_dir, models, logs, cpu, show_progress=False), models, logs


def test_training_lowers_the_loss_and_writes_a_full_log(data_dir, cpu, tmp_path):
    runs = runs_for({"base": {**TINY, "epochs": 4}, "seeds": [0]})
    (summary,), models, logs = train(runs, data_dir, cpu, tmp_path)
    losses = [epoch["train_loss"] for epoch in summary["epochs"]]
    assert losses[-1] < losses[0]
    assert summary["epochs"][-1]["val_accuracy"] > 0.4  # 4 classes: chance is 0.25
    written = json.loads(open(logs[0]).read())
    assert written["status"] == "completed"
    assert written["hyperparameters"]["lr"] == 0.05 and written["environment"]["torch"] == torch.__version__
    assert set(written["seeds"]) == {"init_seed", "data_seed", "aug_seed"}
    assert torch.load(models[0], weights_only=True)["run_id"] == "base__seed=0"


def test_a_diverging_run_is_recorded_and_the_batch_goes_on(data_dir, cpu, tmp_path):
    runs = runs_for({"dimensions": {"lr": [1e12]}, "seeds": [0]})
    assert [run.run_id for run in runs] == ["base__seed=0", "lr=1e+12__seed=0"]
    runs = [runs[1], runs[0]]  # the diverging run first: the next one must still train
    summaries, _, logs = train(runs, data_dir, cpu, tmp_path)
    assert [s["status"] for s in summaries] == ["diverged", "completed"]
    assert json.loads(open(logs[0]).read())["status"] == "diverged"
    assert np.isfinite(summaries[1]["final_val_accuracy"])


def test_same_seeds_give_bit_identical_weights_on_cpu(data_dir, cpu, tmp_path):
    runs = runs_for({"seeds": [5]})
    _, first, _ = train(runs, data_dir, cpu, tmp_path / "a")
    _, second, _ = train(runs, data_dir, cpu, tmp_path / "b")
    a = torch.load(first[0], weights_only=True)["state_dict"]
    b = torch.load(second[0], weights_only=True)["state_dict"]
    assert all(torch.equal(a[key], b[key]) for key in a)
    _, other, _ = train(runs_for({"seeds": [6]}), data_dir, cpu, tmp_path / "c")
    c = torch.load(other[0], weights_only=True)["state_dict"]
    assert not all(torch.equal(a[key], c[key]) for key in a)


def test_augment_translates_and_flips_within_range():
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    out = augment(images, "crop_flip", torch.Generator().manual_seed(0))
    assert out.shape == (64, 3, 8, 8) and out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1
    assert not torch.equal(out, images.float() / 255)
    same = augment(images, "crop_flip", torch.Generator().manual_seed(0))
    assert torch.equal(out, same)
    assert torch.equal(augment(images, "none", torch.Generator()), images.float() / 255)
    flipped = augment(images, "flip", torch.Generator().manual_seed(1))
    plain = images.float() / 255
    assert all(torch.equal(f, p) or torch.equal(f, p.flip(2)) for f, p in zip(flipped, plain))


@pytest.mark.parametrize("name", ["cosine", "onecycle", "step", "constant"])
def test_schedules_warm_up_then_follow_their_shape(name):
    factor = lr_factor(name, total_steps=100, warmup_steps=10)
    values = [factor(step) for step in range(100)]
    assert values[0] < values[9] <= 1.0 and values[10] == pytest.approx(1.0)
    if name in ("cosine", "onecycle"):
        assert values[-1] < 0.05
    if name == "step":
        assert values[60] == pytest.approx(0.1) and values[90] == pytest.approx(0.01)
    if name == "constant":
        assert values[-1] == 1.0
