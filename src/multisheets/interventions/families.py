"""Intervention families: each turns a model into predictions on one or more named interventions.

A family loads its data once per process (``__init__``) and is then applied to every run of a job
(``__call__``). It reads one held-out *split*: ``test`` for the sheets, or ``val``, the selection split that
model selection reads so that it never sees the images the sheets report on. A family names its interventions
with the builders of `intervention_names` (e.g. ``corruption=fog/severity=3`` or ``pgd_linf/eps=2/255``), where
the stages that read names find them without importing torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from multisheets.data.arrays import HELD_OUT_SPLITS, load_split
from multisheets.data.subgroups import subgroup_rows
from multisheets.interventions.names import (
    AUTOATTACKS,
    CLEAN,
    MEMBERSHIP_SCORES,
    attack_budgets,
    attack_name,
    corruption_name,
    group_name,
    membership_name,
    shift_name,
)
from multisheets.models.inference import EVAL_BATCH_SIZE, device_images, predict
from multisheets.models.runtime import Runtime

# The validation split's corruptions draw from another stream than the test split's (seed + this offset).
VAL_SEED_OFFSET = 1_000_003


class Prediction(NamedTuple):
    intervention: str
    logits: torch.Tensor  # float32 (N, C)
    labels: torch.Tensor  # int64 (N,)
    indices: np.ndarray | None = None  # positions in the family's split when an intervention uses a subset
    own_labels: bool = False  # labels are not the split's (stored next to the logits)
    extra: dict[str, Any] | None = None  # metric-row fields this family sets itself (membership: the attack's)


class ImageSet(NamedTuple):
    images: torch.Tensor  # uint8 (N, 3, H, W) on the device
    labels: torch.Tensor  # int64 (N,) on the device
    indices: np.ndarray | None = None  # positions in the split (see Prediction)
    own_labels: bool = False


class LoadedFamily:
    """A family with its data on the device, applied to every run of a job (`registry` says what a family is).

    The base holds a dict of named uint8 image sets with labels, predicted as they are."""

    def __init__(
        self,
        data_dir: Path,
        settings: dict[str, Any],
        runtime: Runtime,
        inputs: list[str] | None = None,
        split: str = "test",
    ):
        if split not in HELD_OUT_SPLITS:
            raise ValueError(
                f"an intervention family reads a held-out split ({', '.join(HELD_OUT_SPLITS)}), not {split!r}"
            )
        self.runtime, self.settings, self.split = runtime, settings, split
        self.batch_size = settings.get("batch_size", EVAL_BATCH_SIZE)
        self.sets: dict[str, ImageSet] = {}

    def add(
        self,
        name: str,
        images: np.ndarray,
        labels: np.ndarray,
        indices: np.ndarray | None = None,
        own_labels: bool = False,
    ) -> None:
        labels_on_device = torch.from_numpy(np.asarray(labels)).to(self.runtime.device)
        self.sets[name] = ImageSet(device_images(images, self.runtime), labels_on_device, indices, own_labels)

    def shapes(self) -> dict[str, int]:
        return {name: len(image_set.labels) for name, image_set in self.sets.items()}

    def __call__(self, forward: Callable, train_indices: np.ndarray | None = None) -> Iterator[Prediction]:
        """The predictions of a model (`forward`) under each intervention. `train_indices`: the positions in the
        training split the model trained on when it drew a sample (None: all of it); only membership reads them."""
        for name, (images, labels, indices, own_labels) in self.sets.items():
            logits = predict(forward, images, self.runtime, self.batch_size)
            yield Prediction(name, logits, labels, indices, own_labels)


class CleanFamily(LoadedFamily):
    """The untouched split (intervention ``clean``); on ``val`` it is what Rashomon sets are defined by."""

    def __init__(self, data_dir, settings, runtime, inputs=None, split="test"):
        super().__init__(data_dir, settings, runtime, split=split)
        data = load_split(data_dir, split)
        self.add(CLEAN, data.images, data.labels)


class CorruptionFamily(LoadedFamily):
    """Common corruptions of the split, one (5N, H, W, 3) file per corruption type, severity 1 first."""

    def __init__(self, data_dir, settings, runtime, inputs=None, split="test"):
        super().__init__(data_dir, settings, runtime, split=split)
        labels = load_split(data_dir, split, mmap=True).labels
        for path in inputs or []:
            images = np.load(path, mmap_mode="r")
            n = len(labels)
            if images.shape[0] % n:
                raise ValueError(f"{path}: {images.shape[0]} images is not a multiple of the {n} {split} images")
            for severity in settings["severities"]:
                block = images[(severity - 1) * n : severity * n]
                self.add(corruption_name(Path(path).stem, severity), np.array(block), labels)


class AdversarialFamily(LoadedFamily):
    """White-box FGSM, L-inf / L2 PGD and AutoAttack on a fixed, seeded subset of the split, in pixel space.

    AutoAttack, many times the cost of PGD, may run on fewer images (`autoattack_n`): the first of the same seeded
    draw, so its images are a uniform random subset of the other attacks' and every AutoAttack example has its PGD
    counterpart. (Not the first of the sorted subset: splits may be ordered by class.)"""

    def __init__(self, data_dir, settings, runtime, inputs=None, split="test"):
        super().__init__(data_dir, settings, runtime, split=split)
        data = load_split(data_dir, split, mmap=True)
        n = min(settings["n"], len(data.labels))
        draw = np.random.default_rng(settings["seed"]).choice(len(data.labels), n, replace=False)
        self.indices = np.sort(draw)
        self.images = device_images(data.images[self.indices], runtime)
        self.labels = torch.from_numpy(data.labels[self.indices]).to(runtime.device)
        self.attacks = attack_budgets(settings)
        # Rows of the subset AutoAttack attacks, in split order.
        self.autoattack_rows = np.searchsorted(self.indices, np.sort(draw[: settings.get("autoattack_n") or n]))

    def rows(self, attack: str) -> np.ndarray | slice:
        return self.autoattack_rows if attack in AUTOATTACKS else slice(None)

    def shapes(self) -> dict[str, int]:
        return {attack_name(*attack): len(self.indices[self.rows(attack[0])]) for attack in self.attacks}

    def __call__(self, forward: Callable, train_indices: np.ndarray | None = None) -> Iterator[Prediction]:
        from multisheets.interventions.attacks import robust_predictions

        pixels = self.images.float().div(255)
        for attack, norm, eps in self.attacks:
            radius = eps / 255 if norm == "linf" else eps
            kwargs: dict[str, Any] = {"eps": radius, "autocast_dtype": self.runtime.autocast_dtype}
            if attack in AUTOATTACKS:
                # torchattacks seeds each of its attacks from the family's seed (the global RNG is restored after)
                kwargs |= {
                    "version": self.settings.get("autoattack_version", "standard"),
                    "seed": self.settings["seed"],
                }
            elif attack != "fgsm":
                kwargs |= {
                    "steps": self.settings["steps"],
                    "restarts": self.settings["restarts"],
                    "step_size": self.settings["step_size_factor"] * radius / self.settings["steps"],
                    "generator": torch.Generator(device=self.runtime.device).manual_seed(self.settings["seed"]),
                }
            rows = self.rows(attack)
            on_device = torch.from_numpy(rows).to(pixels.device) if isinstance(rows, np.ndarray) else rows
            images, labels = pixels[on_device], self.labels[on_device]
            logits = robust_predictions(
                forward, images, labels, attack=attack, batch_size=self.settings["batch_size"], **kwargs
            )
            yield Prediction(attack_name(attack, norm, eps), logits.to(labels.device), labels, self.indices[rows])


class PrivacyFamily(LoadedFamily):
    """Membership inference: training members vs non-members from the split, balanced and seeded.

    The intervention's `accuracy` is the *attack's* accuracy (0.5 = no leakage; higher is worse privacy);
    the stored logits are the classifier's on the 2n examples, so predictive measures still apply. Non-members
    come from the family's split, so the sheet's attack never reads validation images and selection never
    reads test images.
    """

    def __init__(self, data_dir, settings, runtime, inputs=None, split="test"):
        super().__init__(data_dir, settings, runtime, split=split)
        train, held_out = load_split(data_dir, "train", mmap=True), load_split(data_dir, split, mmap=True)
        n = min(settings["n"], len(train.labels), len(held_out.labels))
        rng = np.random.default_rng(settings["seed"])
        members = rng.choice(len(train.labels), n, replace=False)
        nonmembers = rng.choice(len(held_out.labels), n, replace=False)
        images = np.concatenate([train.images[members], held_out.images[nonmembers]])
        self.add("membership", images, np.concatenate([train.labels[members], held_out.labels[nonmembers]]))
        self.members = members
        self.is_member = np.r_[np.ones(n, bool), np.zeros(n, bool)]

    def shapes(self) -> dict[str, int]:
        return {membership_name(score): len(self.is_member) for score in MEMBERSHIP_SCORES}

    def __call__(self, forward: Callable, train_indices: np.ndarray | None = None) -> Iterator[Prediction]:
        from multisheets.measures.per_model import membership_inference, per_example_loss, softmax_confidence

        images, labels, _, _ = self.sets["membership"]
        # A run that trained on a sample of the training split saw only some of the drawn members: the others are
        # left out of its attack (they are neither members nor held-out images), so it is scored on true members.
        in_attack = np.ones(len(self.is_member), bool)
        if train_indices is not None:
            in_attack[: len(self.members)] = np.isin(self.members, np.asarray(train_indices))
        logits = predict(forward, images, self.runtime, self.batch_size)
        logits_np, labels_np = logits.cpu().numpy(), labels.cpu().numpy()
        scores = {
            "loss": (per_example_loss(logits_np, labels_np), False),
            "confidence": (softmax_confidence(logits_np)[0], True),
        }
        for score, (values, higher_is_member) in scores.items():
            attack = membership_inference(
                values[self.is_member & in_attack],
                values[~self.is_member],
                seed=self.settings["seed"],
                higher_is_member=higher_is_member,
            )
            yield Prediction(
                membership_name(score),
                logits,
                labels,
                own_labels=True,
                extra={"accuracy": attack["attack_accuracy"], "metric": "attack_accuracy", "n": int(attack["n_eval"])},
            )


class ShiftFamily(LoadedFamily):
    """Extra labelled test sets (CIFAR-10.1, any ImageFolder test set), prepared by the shift rules.

    They are for reporting only: there is no selection split of a shift set.
    """

    def __init__(self, data_dir, settings, runtime, inputs=None, split="test"):
        if split != "test":
            raise ValueError("shift sets are for reporting only: they have no selection split")
        super().__init__(data_dir, settings, runtime, split=split)
        for path in inputs or []:
            with np.load(path) as archive:
                self.add(shift_name(Path(path).stem), archive["images"], archive["labels"], own_labels=True)


class SubgroupFamily(LoadedFamily):
    """User-defined subgroups (a CSV of `index,group[,split]`), e.g. from dataset attributes.

    One intervention per group, ``group=<name>``, on that group's examples of the split; the sheet adds
    ``worst_group``, each run's lowest group accuracy. Without a `split` column every row is a test-split
    position; rows with ``split = val`` let model selection use the groups.
    """

    def __init__(self, data_dir, settings, runtime, inputs=None, split="test"):
        super().__init__(data_dir, settings, runtime, split=split)
        data = load_split(data_dir, split, mmap=True)
        (groups_csv,) = inputs or [settings["groups_csv"]]
        table = subgroup_rows(groups_csv, split, size=len(data.labels))
        for group, rows in table.groupby("group", sort=True):
            index = np.sort(rows["index"].to_numpy())
            self.add(group_name(group), data.images[index], data.labels[index], indices=index)


def corrupted_split(
    name: str, data, split: str, seed: int, official_dir: str | None = None, frost_dir: str | None = None
) -> np.ndarray:
    """All five severities of one corruption of a split (official layout), generated or read.

    An official CIFAR-10-C download is only valid for a test split in torchvision's CIFAR-10 order: its labels
    must equal ours, or the logits would be scored against the wrong classes. The validation split is always
    generated (CIFAR-10-C has no validation images), from its own random stream.
    """
    from multisheets.interventions import corruptions

    if split == "val":
        return corruptions.generate(data.images, name, seed + VAL_SEED_OFFSET, frost_dir=frost_dir)
    if official_dir:
        images, labels = corruptions.load_official(official_dir, name)
        if not np.array_equal(labels, np.tile(data.labels, len(labels) // max(len(data.labels), 1))):
            raise ValueError(
                f"{official_dir}: CIFAR-10-C labels do not match this study's test split "
                "(official files need data.source: cifar10)"
            )
        return images
    return corruptions.generate(data.images, name, seed, frost_dir=frost_dir)
