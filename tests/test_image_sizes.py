"""Every intervention on the data the torchvision sources give: images of 28 px (MNIST, Fashion-MNIST), 32 px (the
CIFAR reference), 96 px (STL-10), greyscale replicated to RGB, and 100 classes (CIFAR-100).

Untrained models suffice: these tests check that each family and measure runs and returns what it should on such
data, not what a trained model scores.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import write_imagefolder

from multisheets.data.arrays import load_info, load_split
from multisheets.data.prepare import prepare
from multisheets.data.shift import read_shift_set
from multisheets.data.synthetic import make_synthetic
from multisheets.interventions import corruptions
from multisheets.interventions.evaluate import evaluate_runs
from multisheets.interventions.families import corrupted_split
from multisheets.measures.abstention import abstention_tally
from multisheets.measures.ensembles import ensemble_tally
from multisheets.measures.per_example import rashomon_capacity, self_consistency
from multisheets.measures.probabilities import vote_counts
from multisheets.models.checkpoint import checkpoint_of, write_checkpoint
from multisheets.models.zoo import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


def smooth_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Seeded low-frequency colour noise upsampled to `size`: the same smooth content at every size."""
    low = torch.from_numpy(np.random.default_rng(seed).random((n, 3, 6, 6), dtype=np.float32))
    up = F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
    return np.rint(up.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)


BATCHES = {
    "28px": smooth_images(4, 28),
    "32px": smooth_images(4, 32),
    "96px": smooth_images(4, 96),
    "28px grey": np.repeat(smooth_images(4, 28)[..., :1], 3, axis=3),  # as MNIST's are prepared
}


@pytest.mark.parametrize("name", corruptions.CORRUPTIONS)
def test_every_corruption_works_at_every_image_size(name):
    """Severity 3 of each of the 19 corruptions on 28, 32 and 96 px images, and greyscale ones: uint8 of the same
    shape, computed from finite values, and changed (by at least half a grey level on average)."""
    function = corruptions._FUNCTIONS[name]  # the float result, before it is clipped and rounded to uint8
    for batch, images in BATCHES.items():
        rng = corruptions.severity_rng(0, name, 3)
        assert np.isfinite(function(images.astype(np.float32) / 255, 3, rng)).all(), batch
        out = corruptions.corrupt(images, name, 3, corruptions.severity_rng(0, name, 3))
        assert out.dtype == np.uint8 and out.shape == images.shape, batch
        change = np.abs(out.astype(np.int64) - images).mean()
        if name == "saturate" and batch.endswith("grey"):
            # Grey has no saturation to scale (severity 3 is x1.5, no shift): a colourless image stays as it is.
            assert change == 0
        else:
            assert change >= 0.5, f"{name} on {batch}: mean change {change:.2f} grey levels"


def test_the_whole_corrupted_set_layout_at_other_sizes():
    for size in (28, 96):
        images = smooth_images(3, size)
        out = corruptions.generate(images, "zoom_blur", seed=0)
        assert out.shape == (15, size, size, 3) and out.dtype == np.uint8


# --- every family on 100 classes and on 96 px images -----------------------------------------------------------------

# (classes, the synthetic images' own size, the study's data.image_size): CIFAR-100-like at MNIST's size (resized
# up), and STL-10's 96 px (resized up from the synthetic set's 32).
DATASETS = {"100 classes, 28 px": (100, 16, 28), "10 classes, 96 px": (10, 32, 96)}


@pytest.fixture(scope="module", params=sorted(DATASETS))
def prepared(request, tmp_path_factory):
    """A prepared data set of the kind, and an untrained small CNN for it (its model file, as training writes it)."""
    classes, own_size, image_size = DATASETS[request.param]
    root = tmp_path_factory.mktemp("sizes")
    config = {
        "source": "synthetic",
        "val_size": classes,
        "split_seed": 0,
        "synthetic": {"num_classes": classes, "image_size": own_size, "train_per_class": 3, "test_per_class": 2},
        "image_size": image_size,
        "resize": "bilinear",
    }
    info = prepare(config, root / "data")
    torch.manual_seed(0)
    module = build_model("cnn", classes, info["mean"], info["std"], width=4)
    summary = {
        "run_id": "untrained",
        "status": "completed",
        "hyperparameters": {"model": "cnn", "width": 4, "tta": "none"},
    }
    write_checkpoint(checkpoint_of(module, summary, info), root / "model.pt")
    return root, info


def evaluated(root, family, cpu, settings=None, inputs=None):
    """The family's metrics of the untrained model on the test split, by intervention, and its stored arrays."""
    table = evaluate_runs(
        family,
        [str(root / "model.pt")],
        root / "data",
        [str(root / f"{family}.npz")],
        [str(root / f"{family}.csv")],
        cpu,
        settings={"batch_size": 64} | (settings or {}),
        inputs=inputs,
    )
    with np.load(root / f"{family}.npz") as archive:
        return table.set_index("intervention"), dict(archive)


def test_every_family_evaluates_on_other_sizes_and_many_classes(prepared, cpu, tmp_path):
    root, info = prepared
    classes, size = len(info["classes"]), info["resize"]["image_size"]
    test = load_split(root / "data", "test")
    assert test.images.shape[1:] == (size, size, 3) and load_info(root / "data")["image_shape"] == [size, size, 3]

    clean, arrays = evaluated(root, "clean", cpu)
    assert arrays["clean"].shape == (len(test.labels), classes)
    row = clean.loc["clean"]
    assert 0 <= row["worst_class_accuracy"] <= row["accuracy"] <= row["best_class_accuracy"] <= 1
    assert 0 <= row["worst_class"] < classes and row["worst_class_n"] == 2  # each class's 2 test images

    folder = tmp_path / "corrupted"
    folder.mkdir()
    for name in ("fog", "pixelate"):
        np.save(folder / f"{name}.npy", corrupted_split(name, test, "test", seed=0))
    corrupted, arrays = evaluated(
        root, "corruption", cpu, {"severities": [1, 5]}, [str(folder / "fog.npy"), str(folder / "pixelate.npy")]
    )
    assert len(corrupted) == 4 and arrays["corruption=fog/severity=5"].shape == (len(test.labels), classes)

    budgets = {"fgsm_eps": [2], "linf_eps": [1], "l2_eps": [0.25], "steps": 1, "step_size_factor": 2.5}
    attacked, _ = evaluated(root, "adversarial", cpu, {"n": 8, "seed": 0, "restarts": 1} | budgets)
    assert len(attacked) == 3 and (attacked["n"] == 8).all() and attacked["accuracy"].between(0, 1).all()

    privacy, _ = evaluated(root, "privacy", cpu, {"n": 10, "seed": 0})
    assert (privacy["metric"] == "attack_accuracy").all() and privacy["accuracy"].between(0, 1).all()

    groups = tmp_path / "groups.csv"
    groups.write_text("index,group\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(len(test.labels))))
    grouped, _ = evaluated(root, "subgroups", cpu, {"groups_csv": str(groups)})
    assert set(grouped.index) == {"group=a", "group=b"}

    # An extra test set of another size (40 px) is resized as the study's images were.
    shifted = make_synthetic(num_classes=classes, image_size=40, train_per_class=1, test_per_class=1, seed=3)[0]
    shift_root = write_imagefolder(tmp_path / "shift", {"test": shifted["test"]}, info["classes"])
    shift = read_shift_set("other", [str(shift_root)], info, tmp_path)
    assert shift.images.shape == (classes, size, size, 3)
    np.savez(tmp_path / "other.npz", images=shift.images, labels=shift.labels)
    moved, arrays = evaluated(root, "shift", cpu, inputs=[str(tmp_path / "other.npz")])
    assert moved.loc["shift=other", "n"] == classes and arrays["shift=other"].shape == (classes, classes)


def test_per_example_measures_with_100_classes():
    """Rashomon capacity is bounded by the classes as well as by the runs: 120 runs that each put all probability on
    one of 100 classes reach 100 (not 120); unanimous runs give 1. Votes, ensembles and abstention take 100 classes."""
    runs, classes = 120, 100
    spread = np.eye(classes)[np.arange(runs) % classes]  # run r: all on class r mod 100
    unanimous = np.tile(np.eye(classes)[7], (runs, 1))
    probs = np.stack([spread, unanimous], axis=1) * (1 - 1e-6) + 1e-6 / classes  # (R, N = 2, C)
    values, _ = rashomon_capacity(probs)
    assert values[0] == pytest.approx(classes, rel=1e-3) and values[1] == pytest.approx(1, abs=1e-3)

    preds = probs.argmax(axis=2)
    counts = vote_counts(preds, classes)
    assert counts.shape == (2, classes) and self_consistency(counts)[1] == 1
    labels = np.array([0, 7])
    tally = abstention_tally(counts, probs.mean(axis=0), labels, [0.0, 0.5])
    assert tally["covered"].tolist() == [2, 1] and tally["correct"].tolist() == [2, 1]
    logits = np.log(probs).astype(np.float32)
    ensembles = ensemble_tally(logits, labels, size=10, seed=0, capacity={})
    assert len(ensembles["correct"]) == runs // 10
