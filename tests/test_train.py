import json

import numpy as np
import pytest
import torch
from helpers import FAST

from multisheets.study.recipes import LOOKAHEAD_DECAY, NORM_BIAS_LR_SCALE, WHITENING_BIAS_EPOCHS
from multisheets.study.runs import expand_study
from multisheets.train.loop import train_batch
from multisheets.train.optim import (
    Lookahead,
    build_optimizer,
    group_lr_factors,
    lr_factor,
    parameter_groups,
)

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


def test_triangle_schedule_is_airbench94s():
    factor = lr_factor("triangle", total_steps=100, warmup_steps=23)
    assert factor(0) == pytest.approx(0.2) and factor(23) == pytest.approx(1.0)
    assert factor(99) == pytest.approx(1 - 0.93 * 76 / 77) and factor(100) == pytest.approx(0.07)
    values = [factor(step) for step in range(100)]
    assert values.index(max(values)) == 23


def test_fast_recipe_groups_norm_biases_and_the_whitening_bias():
    from multisheets.models.zoo import build_model

    model = build_model("fastnet", 10, [0.5] * 3, [0.25] * 3, width=4)
    hp = {**FAST, "optimizer": "sgd", "nesterov": True}
    groups = {g["name"]: g for g in parameter_groups(model, hp)}
    assert set(groups) == {"norm_bias", "whitening_bias", "other"}
    assert groups["norm_bias"]["lr"] == 1.5 * NORM_BIAS_LR_SCALE
    assert groups["norm_bias"]["lr"] * groups["norm_bias"]["weight_decay"] == pytest.approx(1.5 * 0.00133)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    grouped = [id(p) for g in groups.values() for p in g["params"]]
    assert sorted(grouped) == sorted(trainable)  # every trainable parameter exactly once, frozen ones not at all
    (standard,) = parameter_groups(model, {**hp, "recipe": "standard"})
    assert len(standard["params"]) == len(trainable)

    optimizer = build_optimizer("sgd", parameter_groups(model, hp), hp)
    factors = group_lr_factors(optimizer.param_groups, lambda step: 1.0, steps_per_epoch=10)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factors)
    for _ in range(WHITENING_BIAS_EPOCHS * 10):
        optimizer.step()
        schedule.step()
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert lrs["whitening_bias"] == 0 and lrs["other"] == 1.5 and lrs["norm_bias"] == 1.5 * NORM_BIAS_LR_SCALE


def test_lookahead_pulls_harder_as_training_ends_and_finishes_on_the_average():
    module = torch.nn.Linear(2, 1, bias=False)
    torch.nn.init.zeros_(module.weight)
    lookahead = Lookahead(module, total_steps=10)
    with torch.no_grad():
        module.weight.fill_(1.0)
    lookahead.step(3)  # only every 5th step
    assert module.weight[0, 0] == 1.0
    lookahead.step(5)  # decay 0.95^5 * (1/2)^3: the average moves most of the way
    expected = 1 - LOOKAHEAD_DECAY * 0.5**3
    assert module.weight[0, 0].item() == pytest.approx(expected)
    with torch.no_grad():
        module.weight.fill_(5.0)
    lookahead.step(10)  # decay 0.95^5: the average keeps 77 % of its old value
    assert module.weight[0, 0].item() == pytest.approx(LOOKAHEAD_DECAY * expected + (1 - LOOKAHEAD_DECAY) * 5)
    with torch.no_grad():
        module.weight.fill_(-3.0)
    lookahead.finish()  # the model handed on is the average, not the last iterate
    assert module.weight[0, 0].item() == pytest.approx(LOOKAHEAD_DECAY * expected + (1 - LOOKAHEAD_DECAY) * 5)


def test_fast_recipe_learns_and_is_bit_identical_on_cpu(data_dir, cpu, tmp_path):
    runs = expand_study({"base": FAST, "seeds": [0]})
    (summary,), first, _ = train(runs, data_dir, cpu, tmp_path / "a")
    assert summary["status"] == "completed"
    assert summary["epochs"][-1]["val_accuracy"] > 0.5  # 4 classes
    assert [epoch["val_tta"] for epoch in summary["epochs"]] == [False] * 7 + [True]  # the last as evaluated
    assert max(epoch["lr"] for epoch in summary["epochs"]) <= FAST["lr"]  # the logged lr is `lr`'s, not 64x
    _, second, _ = train(runs, data_dir, cpu, tmp_path / "b")
    a, b = (torch.load(path[0], weights_only=True) for path in (first, second))
    assert a["tta"] == "flip_translate"
    assert all(torch.equal(a["state_dict"][key], b["state_dict"][key]) for key in a["state_dict"])
    # the stem was set from the data (not its random init) and kept fixed by training
    from multisheets.data.arrays import load_split
    from multisheets.models.zoo import build_model, init_whitening

    reference = build_model("fastnet", 4, [0.5] * 3, [0.25] * 3, width=4)
    reference.mean.copy_(a["state_dict"]["mean"])
    reference.std.copy_(a["state_dict"]["std"])
    train_images = torch.from_numpy(load_split(data_dir, "train").images).permute(0, 3, 1, 2)
    init_whitening(reference, train_images[:5000])
    assert torch.allclose(a["state_dict"]["backbone.0.weight"], reference.backbone[0].weight, atol=1e-5)


def test_compiled_module_is_traced_once_for_a_whole_batch_of_runs(data_dir, cpu, tmp_path, monkeypatch):
    """Compile once per process: later runs reuse the graphs (train, eval, eval with test-time augmentation).

    Dynamo's tracing decides recompilation, not the backend, so the test traces with the eager backend and is
    spared inductor's C++ build."""
    import functools

    from torch._dynamo.utils import counters

    from multisheets.models.runtime import make_runtime

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    compiled = make_runtime({"device": "cpu", "compile": True})
    runs = expand_study({"base": {**FAST, "epochs": 2}, "seeds": [0, 1, 2]})
    graphs = []
    for count in (1, 3):
        torch._dynamo.reset()
        counters.clear()
        summaries, _, _ = train(runs[:count], data_dir, compiled, tmp_path / f"compiled{count}")
        graphs.append(counters["stats"]["unique_graphs"])
    assert graphs[0] == graphs[1] <= 3
    eager, _, _ = train(runs, data_dir, cpu, tmp_path / "eager")
    assert [s["final_val_accuracy"] for s in summaries] == [s["final_val_accuracy"] for s in eager]


def test_runs_differing_only_in_tta_share_a_module_and_keep_their_own_tta(data_dir, cpu, tmp_path):
    runs = expand_study({"base": {**FAST, "epochs": 1}, "dimensions": {"tta": ["none", "flip"]}, "seeds": [0]})
    summaries, models, _ = train(runs, data_dir, cpu, tmp_path)
    assert [torch.load(path, weights_only=True)["tta"] for path in models] == ["flip_translate", "none", "flip"]
    assert [s["epochs"][-1]["val_tta"] for s in summaries] == [True, False, True]
