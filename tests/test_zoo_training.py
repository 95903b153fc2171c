"""torchvision's architectures through the real code: one deterministic training step of each, its model file read
back by evaluation (channels_last, test-time augmentation, an attack's gradient), and a study of five of them
through the workflow's checks and a `snakemake` dry run.

On a quiet 2-core CPU the training of all thirteen takes 15 s and the file 40 s (on a busy one, several times
that)."""

import shutil

import pytest
import torch
import yaml
from test_torchvision_zoo import ZOO
from test_workflow import copy_workflow, snakemake

from multisheets.data.arrays import load_split
from multisheets.data.prepare import prepare
from multisheets.models.checkpoint import FIELDS, SIZED_FIELDS, load_model, read_checkpoint
from multisheets.models.inference import device_images, predict
from multisheets.models.runtime import make_runtime
from multisheets.models.zoo import build_model
from multisheets.study.runs import expand_study
from multisheets.train.loop import train_batch

# 16 px (the small-image variants, as at 32 px, at a quarter of the cost): 2 training images make one step of a
# batch of 2, validated on 2 with test-time augmentation
TINY_DATA = {
    "source": "synthetic",
    "path": "",
    "val_size": 2,
    "split_seed": 0,
    "synthetic": {"num_classes": 2, "image_size": 16, "train_per_class": 2, "test_per_class": 1, "seed": 0},
}
ONE_STEP = {"epochs": 1, "batch_size": 2, "lr": 0.01, "warmup_epochs": 0, "tta": "flip"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Every torchvision architecture trained for one step in one job, with `runtime.deterministic: true`."""
    data_dir = tmp_path_factory.mktemp("data16")
    prepare(TINY_DATA, data_dir)
    runs = expand_study({"base": {**ONE_STEP, "model": ZOO[0]}, "dimensions": {"model": ZOO[1:]}, "seeds": [0]})
    out = tmp_path_factory.mktemp("runs")
    models = {run.hyperparameters["model"]: out / run.run_id / "model.pt" for run in runs}
    logs = [str(out / run.run_id / "train_log.json") for run in runs]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # batches of 2 small images: more threads only spin against other jobs
    try:
        runtime = make_runtime({"device": "cpu", "deterministic": True})
        summaries = train_batch(runs, data_dir, [str(p) for p in models.values()], logs, runtime, show_progress=False)
    finally:
        torch.use_deterministic_algorithms(False)  # process-wide: the other tests run as they always do
        torch.set_num_threads(threads)
    yield data_dir, models, summaries
    shutil.rmtree(out)  # 1.1 GB of model files


def test_every_torchvision_architecture_trains_a_deterministic_step(trained):
    """Each writes a model file with its image size, whose weights are those of the network the file rebuilds
    (compared on the meta device: loading all thirteen for real takes minutes on a CPU)."""
    _, models, summaries = trained
    assert [summary["status"] for summary in summaries] == ["completed"] * len(ZOO)
    assert all(len(summary["epochs"]) == 1 and summary["epochs"][0]["val_tta"] for summary in summaries)
    for name, path in models.items():
        checkpoint = torch.load(path, weights_only=True, mmap=True)
        assert tuple(checkpoint) == FIELDS + SIZED_FIELDS and checkpoint["image_size"] == [16, 16]
        with torch.device("meta"):
            rebuilt = build_model(name, 2, [0.5] * 3, [0.25] * 3, image_size=checkpoint["image_size"]).state_dict()
        assert {key: value.shape for key, value in checkpoint["state_dict"].items()} == {
            key: value.shape for key, value in rebuilt.items()
        }, name


# Loaded for real: the small ones, one of each way torchvision_zoo adapts a network (a new head, a Sequential
# rebuilt around torchvision's parts, pools swapped in place, a ViT).
LOADED = ["vgg11_bn", "mobilenet_v2", "mobilenet_v3_small", "vit_ti_16"]


@pytest.mark.parametrize("name", LOADED)
def test_a_model_file_gives_the_trained_models_logits_and_gradients(trained, cpu, name):
    """load_model (channels_last, eval mode) gives the logits of the network rebuilt plainly from the same weights,
    with the test-time augmentation it was trained with and with the one that shifts the image, and an attack's
    gradient reaches the image through it. (After one step the gradient can be tiny or, where the logits are
    huge, the loss's zero: what is checked is that it flows.)"""
    data_dir, models, _ = trained
    model, checkpoint = load_model(models[name], cpu)
    assert model.tta == "flip" and not model.training
    reference = build_model(name, 2, checkpoint["mean"], checkpoint["std"], image_size=checkpoint["image_size"])
    reference.load_state_dict(checkpoint["state_dict"])
    images = device_images(load_split(data_dir, "test").images[:1], cpu)
    for tta in ("flip", "flip_translate"):
        model.tta = reference.tta = tta
        with torch.no_grad():
            expected = reference.eval()(images.float() / 255)
        assert torch.allclose(predict(model, images, cpu), expected, rtol=1e-4, atol=1e-5), tta
    pixels = (images.float() / 255).requires_grad_()
    (gradient,) = torch.autograd.grad(model(pixels).logsumexp(1).sum(), pixels)
    assert gradient.isfinite().all() and (gradient != 0).any()


def test_model_files_written_before_image_size_was_stored_still_load(tmp_path, cpu):
    module = build_model("cnn", 2, [0.5] * 3, [0.25] * 3, width=4)
    old = {"run_id": "r", "status": "completed", "model": "cnn", "width": 4, "num_classes": 2}
    torch.save(old | {"mean": [0.5] * 3, "std": [0.25] * 3, "state_dict": module.state_dict()}, tmp_path / "m.pt")
    assert read_checkpoint(tmp_path / "m.pt")["image_size"] is None
    load_model(tmp_path / "m.pt", cpu)


ZOO_STUDY = {
    "study": "zoo",
    "data": {"source": "cifar100", "path": "resources/cifar100", "val_size": 5000},  # 100 classes, downloaded
    "base": {"model": "resnet50", "epochs": 30, "batch_size": 128, "lr": 0.1},
    "dimensions": {"model": ["vgg16_bn", "densenet121", "convnext_tiny", "vit_b_16"]},
    "seeds": [0, 1],
    "runtime": {"device": "cpu", "deterministic": True},
    "interventions": {"families": ["clean", "adversarial"], "adversarial": {"n": 100, "linf_eps": [2]}},
}


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake is not installed")
def test_a_cifar100_study_of_five_torchvision_models_passes_the_checks_and_a_dry_run(tmp_path):
    workdir = copy_workflow(tmp_path)
    (workdir / "zoo.yaml").write_text(yaml.safe_dump(ZOO_STUDY))
    result = snakemake(workdir, "--dry-run", "--cores", "1", "--configfile", "zoo.yaml")
    text = result.stdout + result.stderr
    assert all(f"model={name}" in text for name in ZOO_STUDY["dimensions"]["model"]) and "rule train_" in text
    widened = ZOO_STUDY | {"base": {**ZOO_STUDY["base"], "width": 32}}
    (workdir / "widened.yaml").write_text(yaml.safe_dump(widened))
    refused = snakemake(workdir, "--dry-run", "--cores", "1", "--configfile", "widened.yaml", check=False)
    assert refused.returncode != 0
    refusal = "base.width: 32 with model resnet50 (run base__seed=0), whose widths are torchvision's"
    assert refusal in refused.stdout + refused.stderr
