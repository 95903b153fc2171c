"""Intervention families on tiny data: layout, naming, monotonicity, membership-inference sanity, shift sets."""

import numpy as np
import pytest
from helpers import write_imagefolder

from multisheets.data.arrays import DataError, load_info, load_split
from multisheets.data.prepare import prepare
from multisheets.data.shift import read_shift_set
from multisheets.data.synthetic import make_synthetic
from multisheets.interventions.evaluate import evaluate_runs
from multisheets.interventions.families import corrupted_split
from multisheets.interventions.names import aggregates, format_eps
from multisheets.study.runs import expand_study
from multisheets.train.loop import train_batch


def train_one(data_dir, cpu, out, **base):
    runs = expand_study(
        {"base": {"model": "cnn", "width": 8, "batch_size": 32, "warmup_epochs": 0, **base}, "seeds": [0]}
    )
    model = out / "model.pt"
    train_batch(runs, data_dir, [str(model)], [str(out / "log.json")], cpu, show_progress=False)
    return model


@pytest.fixture(scope="module")
def trained(data_dir, cpu, tmp_path_factory):
    return train_one(data_dir, cpu, tmp_path_factory.mktemp("trained"), epochs=6, lr=0.05)


def evaluate(family, model, data_dir, cpu, out, settings, inputs=None, split="test"):
    table = evaluate_runs(
        family,
        [str(model)],
        data_dir,
        [str(out / f"{family}.npz")],
        [str(out / f"{family}.csv")],
        cpu,
        settings,
        inputs,
        split,
    )
    with np.load(out / f"{family}.npz") as archive:
        return table.set_index("intervention"), dict(archive)


def test_corrupted_sets_are_deterministic_in_official_layout(data_dir):
    test = load_split(data_dir, "test")
    first = corrupted_split("gaussian_noise", test, "test", seed=3)
    assert first.shape == (5 * len(test.labels), *test.images.shape[1:]) and first.dtype == np.uint8
    assert np.array_equal(first, corrupted_split("gaussian_noise", test, "test", seed=3))
    assert not np.array_equal(first, corrupted_split("gaussian_noise", test, "test", seed=4))


def synthetic_dir(directory, val_size, train_per_class, test_per_class, seed):
    synthetic = {
        "num_classes": 4,
        "image_size": 16,
        "train_per_class": train_per_class,
        "test_per_class": test_per_class,
        "seed": seed,
    }
    prepare(
        {"source": "synthetic", "path": "", "val_size": val_size, "split_seed": 0, "synthetic": synthetic}, directory
    )
    return directory


@pytest.fixture(scope="module")
def larger_test_dir(tmp_path_factory):
    """200 test images: enough that a severity effect is not lost in sampling noise."""
    return synthetic_dir(tmp_path_factory.mktemp("larger-test"), 60, 60, 50, seed=0)


def test_accuracy_falls_with_corruption_severity(larger_test_dir, cpu, tmp_path):
    model = train_one(larger_test_dir, cpu, tmp_path, epochs=6, lr=0.05)
    test = load_split(larger_test_dir, "test")
    names = [
        "gaussian_noise",
        "shot_noise",
        "impulse_noise",
        "contrast",
        "fog",
        "brightness",
        "defocus_blur",
        "pixelate",
    ]
    inputs = []
    for name in names:
        np.save(tmp_path / f"{name}.npy", corrupted_split(name, test, "test", seed=0))
        inputs.append(str(tmp_path / f"{name}.npy"))
    table, logits = evaluate("corruption", model, larger_test_dir, cpu, tmp_path, {"severities": [1, 5]}, inputs)
    assert "corruption=contrast/severity=5" in logits and len(table) == 2 * len(names)
    falls = [
        table.loc[f"corruption={name}/severity=5", "accuracy"] < table.loc[f"corruption={name}/severity=1", "accuracy"]
        for name in names
    ]
    assert sum(falls) >= 6, table["accuracy"]  # "for most corruptions": blur barely touches smooth toy images


def test_adversarial_accuracy_does_not_rise_with_eps(trained, data_dir, cpu, tmp_path):
    settings = {
        "n": 50,
        "seed": 0,
        "fgsm_eps": [4],
        "linf_eps": [0, 2, 8, 32],
        "l2_eps": [0.5],
        "steps": 5,
        "step_size_factor": 2.5,
        "restarts": 1,
        "batch_size": 25,
    }
    table, logits = evaluate("adversarial", trained, data_dir, cpu, tmp_path, settings)
    curve = [table.loc[f"pgd_linf/eps={eps}/255", "accuracy"] for eps in (0, 2, 8, 32)]
    assert all(later <= earlier + 1e-9 for earlier, later in zip(curve, curve[1:])) and curve[-1] < curve[0]
    assert table.loc["pgd_linf/eps=0/255", "n"] == 50
    with np.load(tmp_path / "adversarial.npz") as archive:
        indices = archive["pgd_l2/eps=0.5#indices"]
    assert len(indices) == 50 and len(set(indices)) == 50


@pytest.mark.slow
def test_autoattack_runs_on_a_part_of_the_attacks_subset(trained, data_dir, cpu, tmp_path):
    """AutoAttack's images are the first `autoattack_n` of the same seeded draw (so each has its PGD counterpart),
    stored like every attack's; the other attacks' subset is the one they had before AutoAttack existed."""
    pytest.importorskip("torchattacks")
    settings = {"n": 30, "seed": 0, "fgsm_eps": [], "linf_eps": [8], "l2_eps": [], "steps": 10}
    settings |= {"step_size_factor": 2.5, "restarts": 1, "batch_size": 25, "autoattack_eps": [8], "autoattack_n": 12}
    table, logits = evaluate("adversarial", trained, data_dir, cpu, tmp_path, settings)
    assert list(table.index) == ["pgd_linf/eps=8/255", "autoattack_linf/eps=8/255"]
    assert table.loc["autoattack_linf/eps=8/255", "n"] == 12 and table.loc["pgd_linf/eps=8/255", "n"] == 30
    test = load_split(data_dir, "test")
    draw = np.random.default_rng(0).choice(len(test.labels), 30, replace=False)
    pgd_rows, aa_rows = logits["pgd_linf/eps=8/255#indices"], logits["autoattack_linf/eps=8/255#indices"]
    assert np.array_equal(pgd_rows, np.sort(draw)) and np.array_equal(aa_rows, np.sort(draw[:12]))
    assert logits["autoattack_linf/eps=8/255"].dtype == np.float16
    aa_predicted = logits["autoattack_linf/eps=8/255#predicted"]
    pgd_predicted = logits["pgd_linf/eps=8/255#predicted"][np.searchsorted(pgd_rows, aa_rows)]
    labels = test.labels[aa_rows]
    # on the same images; one image of slack: AutoAttack is the stronger attack, not a superset of PGD's successes
    assert (aa_predicted == labels).mean() <= (pgd_predicted == labels).mean() + 1 / 12
    assert table.loc["autoattack_linf/eps=8/255", "accuracy"] == pytest.approx((aa_predicted == labels).mean())


def test_eps_names_read_like_papers():
    assert (
        format_eps(0.5, "linf") == "0.5/255" and format_eps(8, "linf") == "8/255" and format_eps(0.25, "l2") == "0.25"
    )


@pytest.fixture(scope="module")
def tiny_train_dir(tmp_path_factory):
    """A very small training split, so a model can memorise its members."""
    return synthetic_dir(tmp_path_factory.mktemp("tiny-train"), 40, 20, 5, seed=1)


def test_membership_inference_detects_memorisation_only(tiny_train_dir, data_dir, cpu, tmp_path):
    settings = {"n": 40, "seed": 0}
    overfit = train_one(
        tiny_train_dir, cpu, tmp_path / "overfit", epochs=60, lr=0.05, augment="none", weight_decay=0.0, batch_size=8
    )
    table, _ = evaluate("privacy", overfit, tiny_train_dir, cpu, tmp_path / "overfit", settings)
    assert table.loc["mia_loss", "accuracy"] >= 0.7 and (table["metric"] == "attack_accuracy").all()
    # A model trained on other data never saw these "members": the attack is near chance.
    stranger = train_one(data_dir, cpu, tmp_path / "stranger", epochs=2, lr=0.05)
    table, _ = evaluate("privacy", stranger, tiny_train_dir, cpu, tmp_path / "stranger", settings)
    assert abs(table.loc["mia_loss", "accuracy"] - 0.5) <= 0.2  # n_eval = 40: one binomial sd is 0.08


def test_shift_imagefolder_maps_classes_and_names_problems(data_dir, tmp_path):
    info = load_info(data_dir)
    splits, _, _ = make_synthetic(num_classes=4, image_size=16, train_per_class=1, test_per_class=3, seed=7)
    root = write_imagefolder(tmp_path / "shifted", {"test": splits["test"]}, info["classes"])
    shift = read_shift_set("mine", [str(root)], info, tmp_path)
    assert shift.images.shape == (12, 16, 16, 3) and sorted(set(shift.labels)) == [0, 1, 2, 3]
    (root / "test" / "zebra").mkdir()
    (root / "test" / info["classes"][0] / "00000.png").rename(root / "test" / "zebra" / "00000.png")
    with pytest.raises(DataError, match="zebra"):
        read_shift_set("mine", [str(root)], info, tmp_path)


def test_aggregates_group_severities():
    names = ["clean", "corruption=fog/severity=1", "corruption=fog/severity=5", "corruption=snow/severity=1"]
    groups = aggregates(names)
    assert groups["corruption=fog"] == names[1:3] and groups["corruption_mean"] == names[1:]
    assert "clean" not in groups


def test_subgroups_give_one_intervention_per_group(trained, data_dir, cpu, tmp_path):
    test = load_split(data_dir, "test")
    groups = tmp_path / "groups.csv"
    groups.write_text(
        "index,group\n" + "".join(f"{i},{'even' if i % 2 == 0 else 'odd'}\n" for i in range(len(test.labels)))
    )
    table, logits = evaluate("subgroups", trained, data_dir, cpu, tmp_path, {}, [str(groups)])
    assert set(table.index) == {"group=even", "group=odd"} and table["n"].sum() == len(test.labels)
    with np.load(tmp_path / "subgroups.npz") as archive:
        assert (archive["group=odd#indices"] % 2 == 1).all()
    bad = tmp_path / "bad.csv"
    bad.write_text("position,group\n0,a\n")
    with pytest.raises(ValueError, match="'index' and 'group'"):
        evaluate("subgroups", trained, data_dir, cpu, tmp_path, {}, [str(bad)])


def test_test_time_augmentation_is_what_every_family_evaluates(data_dir, cpu, tmp_path):
    """A fast-recipe checkpoint is evaluated with its TTA, and attacks differentiate through it."""
    import torch

    from multisheets.models.checkpoint import load_model
    from multisheets.models.inference import device_images, predict

    model_path = train_one(
        data_dir,
        cpu,
        tmp_path,
        model="fastnet",
        width=4,
        recipe="fast",
        epochs=8,
        lr=1.5,
        momentum=0.85,
        schedule="triangle",
        warmup_epochs=1,
        label_smoothing=0.2,
        augment="translate2_altflip",
        tta="flip_translate",
    )
    table, logits = evaluate("clean", model_path, data_dir, cpu, tmp_path, {})
    model, _ = load_model(model_path, cpu)
    assert model.tta == "flip_translate"
    test = device_images(load_split(data_dir, "test").images, cpu)
    with_tta = predict(model, test, cpu).half().numpy()
    model.tta = "none"
    without = predict(model, test, cpu).half().numpy()
    assert np.array_equal(logits["clean"], with_tta) and not np.allclose(logits["clean"], without, atol=1e-2)

    settings = {
        "n": 40,
        "seed": 0,
        "fgsm_eps": [],
        "linf_eps": [0, 16],
        "l2_eps": [],
        "steps": 3,
        "step_size_factor": 2.5,
        "restarts": 1,
        "batch_size": 20,
    }
    table, _ = evaluate("adversarial", model_path, data_dir, cpu, tmp_path, settings)
    assert table.loc["pgd_linf/eps=16/255", "accuracy"] < table.loc["pgd_linf/eps=0/255", "accuracy"]
    assert torch.isfinite(torch.tensor(table["accuracy"].to_numpy())).all()


def test_the_selection_split_never_reads_test_images(trained, data_dir, cpu, tmp_path):
    """On split=val every family scores validation images: the sheets' test images stay unseen by selection."""
    val = load_split(data_dir, "val")
    settings = {
        "n": 30,
        "seed": 0,
        "fgsm_eps": [2],
        "linf_eps": [],
        "l2_eps": [],
        "steps": 1,
        "step_size_factor": 2.5,
        "restarts": 1,
        "batch_size": 30,
    }
    table, _ = evaluate("adversarial", trained, data_dir, cpu, tmp_path, settings, split="val")
    with np.load(tmp_path / "adversarial.npz") as archive:
        indices = archive["fgsm/eps=2/255#indices"]
    assert table["split"].eq("val").all() and indices.max() < len(val.labels)
    # privacy: non-members come from the evaluated split (the second half of the stored labels)
    table, _ = evaluate("privacy", trained, data_dir, cpu, tmp_path, {"n": len(val.labels), "seed": 0}, split="val")
    with np.load(tmp_path / "privacy.npz") as archive:
        nonmember_labels = archive["mia_loss#labels"][len(val.labels) :]
    assert sorted(nonmember_labels) == sorted(val.labels)
    # corruptions of the val split draw from their own stream, not the test split's
    from multisheets.interventions.corruptions import generate

    noisy_val = corrupted_split("gaussian_noise", val, "val", seed=0)
    assert noisy_val.shape[0] == 5 * len(val.labels)
    assert not np.array_equal(noisy_val, generate(val.images, "gaussian_noise", 0))
    # subgroups: only the CSV's val rows; none -> a clear error naming the split
    groups = tmp_path / "groups.csv"
    groups.write_text("index,group,split\n0,a,val\n1,a,val\n2,b,val\n0,a,test\n")
    table, _ = evaluate("subgroups", trained, data_dir, cpu, tmp_path, {}, [str(groups)], split="val")
    assert table.loc["group=a", "n"] == 2 and table.loc["group=b", "n"] == 1
    groups.write_text("index,group\n0,a\n")
    with pytest.raises(ValueError, match="no rows for the val split"):
        evaluate("subgroups", trained, data_dir, cpu, tmp_path, {}, [str(groups)], split="val")
    with pytest.raises(ValueError, match="reporting only"):
        evaluate("shift", trained, data_dir, cpu, tmp_path, {}, [], split="val")
