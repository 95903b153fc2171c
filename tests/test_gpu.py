"""GPU-only checks (skipped without CUDA; `benchmarks/gpu_session.sh` runs them): the fast recipe learns under
bf16 on the GPU, and `deterministic: true` gives bit-identical reruns, attacks through test-time augmentation
included. Without the switch cuDNN autotuning and atomics may differ between reruns; nothing is asserted then."""

import numpy as np
import pytest
import torch
from helpers import FAST

from multisheets.interventions.evaluate import evaluate_runs
from multisheets.models.runtime import make_runtime
from multisheets.study.runs import expand_study
from multisheets.train.loop import train_batch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

ATTACK = {
    "n": 40,
    "seed": 0,
    "fgsm_eps": [2],
    "linf_eps": [2],
    "l2_eps": [0.25],
    "steps": 3,
    "step_size_factor": 2.5,
    "restarts": 1,
    "batch_size": 20,
}


def train_and_attack(base, data_dir, runtime, out):
    runs = expand_study({"base": base, "seeds": [0]})
    model = out / "model.pt"
    (summary,) = train_batch(runs, data_dir, [str(model)], [str(out / "log.json")], runtime, show_progress=False)
    evaluate_runs(
        "adversarial", [str(model)], data_dir, [str(out / "adv.npz")], [str(out / "adv.csv")], runtime, ATTACK
    )
    with np.load(out / "adv.npz") as archive:
        return summary, torch.load(model, weights_only=True)["state_dict"], dict(archive)


@pytest.mark.parametrize(
    "base", [FAST, {"model": "resnet18", "width": 8, "epochs": 2, "batch_size": 32}], ids=["fastnet", "resnet18"]
)
def test_deterministic_switch_gives_bit_identical_reruns(base, data_dir, tmp_path):
    runtime = make_runtime({"device": "cuda", "deterministic": True})
    try:
        first = train_and_attack(base, data_dir, runtime, tmp_path / "a")
        second = train_and_attack(base, data_dir, runtime, tmp_path / "b")
    finally:
        torch.use_deterministic_algorithms(False)
    assert first[0]["status"] == "completed"
    assert all(torch.equal(first[1][key], second[1][key]) for key in first[1])
    assert all((first[2][key] == second[2][key]).all() for key in first[2])


def test_fast_recipe_learns_under_bf16_on_the_gpu(data_dir, tmp_path):
    runtime = make_runtime({"device": "cuda"})
    assert runtime.autocast_dtype == torch.bfloat16
    summary, _, _ = train_and_attack(FAST, data_dir, runtime, tmp_path)
    assert summary["status"] == "completed" and summary["final_val_accuracy"] > 0.5  # 4 classes
