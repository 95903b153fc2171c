"""Checks of a study that its schema cannot express, made by the workflow before any job starts.

Each refuses with a message that names the key or file and says what to write instead, so that a mistake costs
seconds rather than a trained population that then fails in a later step. Torch-free (torch is imported only to
ask whether a requested GPU exists, and only when one is requested).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from multisheets.data.sources import source_of
from multisheets.data.subgroups import subgroup_rows
from multisheets.data.torchvision_sources import TORCHVISION_SETS
from multisheets.interventions.names import asks_for_autoattack, summary_interventions
from multisheets.interventions.registry import (
    AUTOATTACK_MIN_CLASSES,
    FAMILIES,
    INSTALL_TORCHATTACKS,
    planned_interventions,
    torchattacks_problem,
)
from multisheets.models.architectures import ARCHITECTURES, fixed_width
from multisheets.sheets.selection import SELECTION_SPLIT, Specification
from multisheets.study.config import HYPERPARAMETER_DEFAULTS
from multisheets.study.runs import Run


def source_sizes(data: dict[str, Any], data_dir: str | Path) -> dict[str, int] | None:
    """Images in the source's train/ and test/ parts (train before the validation split is taken from it), where
    known without reading the source: from its registry entry, or an earlier run of the data stage; else None."""
    source = source_of(data)
    if source.sizes:
        return source.sizes(data)
    info = Path(data_dir) / "dataset.json"
    if info.exists():
        sizes = json.loads(info.read_text())["sizes"]
        return {"train": sizes["train"] + sizes["val"], "test": sizes["test"]}
    return None


def split_sizes(data: dict[str, Any], data_dir: str | Path) -> dict[str, int] | None:
    """Images of the prepared train/val/test splits, or None while unknown; refuses a `val_size` that leaves no
    training images."""
    sizes = source_sizes(data, data_dir)
    if sizes is None:
        return None
    if not 0 < data["val_size"] < sizes["train"]:
        raise ValueError(
            f"data.val_size: {data['val_size']} must lie between 1 and the {sizes['train']} training images - 1"
        )
    return {"train": sizes["train"] - data["val_size"], "val": data["val_size"], "test": sizes["test"]}


def check_data(data: dict[str, Any], interventions: dict[str, Any], families: list[str]) -> None:
    """The data suit the families that read it in a way only the data decides (`families`: those evaluated)."""
    size = data.get("image_size")
    if "corruption" in families and interventions["corruption"]["official_dir"] and size not in (None, 32):
        raise ValueError(
            f"interventions.corruption.official_dir: CIFAR-10-C's images are 32x32, but data.image_size resizes this "
            f"study's to {size}x{size}; leave official_dir at null (the corruptions are then made at the study's "
            "size) or data.image_size at null"
        )
    if "shift" in families and interventions["shift"]["cifar10_1"] and data["source"] in TORCHVISION_SETS:
        raise ValueError(
            f"interventions.shift.cifar10_1: CIFAR-10.1 has the CIFAR-10 classes, data.source {data['source']} "
            "has others; set cifar10_1: false (an imagefolders entry maps any labelled set onto this study's classes)"
        )


def check_dimensions(config: dict[str, Any]) -> None:
    """A one-at-a-time dimension value equal to the base's is the base setting itself: its runs are the base runs,
    and a dimension of only such values would vanish from the sheet. (In a grid it is a needed level.)"""
    if config["grid"]:
        return
    base = HYPERPARAMETER_DEFAULTS | config["base"]
    for name, values in config["dimensions"].items():
        same = [value for value in values if value == base[name]]
        if same:
            raise ValueError(
                f"dimensions.{name}: {same[0]!r} equals base.{name}, so those runs would be the base runs and "
                f"not vary {name}; list only values that differ from the base (the {name} scenario includes the "
                "base runs)"
            )


def check_starts(runs: list[Run]) -> None:
    """A linear probe freezes what a checkpoint gave: from scratch it would freeze nothing and silently train every
    weight under a name that says otherwise. A checkpoint must exist before any job (its content is part of the
    training key, so it is read while the workflow plans; whether it fits the model is checked when a job starts,
    before it trains)."""
    for run in runs:
        hp = run.hyperparameters
        if hp["finetune"] == "linear_probe" and hp["init"] == "scratch":
            raise ValueError(
                f"{run.run_id}: finetune: linear_probe needs a checkpoint in init (it freezes what the checkpoint "
                "gave); set init to a checkpoint's path, or finetune: full"
            )
        if hp["init"] != "scratch" and not Path(hp["init"]).is_file():
            raise ValueError(f"{run.run_id}: init: {hp['init']} is not a file (a checkpoint to start from, or scratch)")


def check_widths(runs: list[Run]) -> None:
    """A run sets `width` only for a model that has a base width: torchvision's networks have fixed widths, and a
    width they ignored would still split runs that train the same model into settings of their own."""
    for run in runs:
        model, width = run.hyperparameters["model"], run.hyperparameters["width"]
        if width is not None and fixed_width(model):
            where = "dimensions.width" if "width" in run.changed else "base.width"
            scalable = ", ".join(name for name in ARCHITECTURES if not fixed_width(name))
            raise ValueError(
                f"{where}: {width} with model {model} (run {run.run_id}), whose widths are torchvision's and "
                f"fixed; leave width at null for it (a base width applies to {scalable} only)"
            )


def class_count(data: dict[str, Any], data_dir: str | Path) -> int | None:
    """The study's number of classes where known before the data stage: from an earlier run of it, or the source's
    own settings (``data.synthetic.num_classes``); else None."""
    info = Path(data_dir) / "dataset.json"
    if info.exists():
        return len(json.loads(info.read_text())["classes"])
    return (data.get(data["source"]) or {}).get("num_classes")


def check_families(
    interventions: dict[str, Any],
    splits: dict[str, list[str]],
    sizes: dict[str, int] | None,
    num_classes: int | None = None,
) -> None:
    """Every family a study evaluates reads files that exist and measures something with its settings. `splits`:
    family -> the held-out splits it is evaluated on; `sizes`: the splits' sizes and `num_classes` the number of
    classes, where known (`split_sizes`, `class_count`)."""
    for family, family_splits in splits.items():
        settings = interventions.get(family, {})
        if family == "adversarial" and asks_for_autoattack(settings):
            check_autoattack(settings, num_classes)
        reads = FAMILIES[family].reads
        if reads == "groups_csv":
            for split in family_splits:
                check_groups_csv(settings["groups_csv"], split, sizes)
        elif reads == "corrupted_sets":
            for key in ("official_dir", "frost_dir"):
                if settings[key] and not Path(settings[key]).is_dir():
                    raise ValueError(f"interventions.{family}.{key}: {settings[key]} is not a folder")
        elif reads == "shift_sets":
            for name, source in settings["imagefolders"].items():
                if not Path(source).exists():
                    raise ValueError(f"interventions.{family}.imagefolders.{name}: {source} does not exist")
        if not planned_interventions(family, settings, family_splits[0]):
            raise ValueError(
                f"interventions.families lists {family}, but its settings (interventions.{family}) give it "
                "nothing to measure"
            )


def check_autoattack(settings: dict[str, Any], num_classes: int | None) -> None:
    """AutoAttack can run: torchattacks is installed (it is optional), its subset is part of the other attacks',
    and the data has the classes its targeted attacks need."""
    problem = torchattacks_problem()
    if problem:
        raise ValueError(
            f"interventions.adversarial asks for AutoAttack (autoattack_eps / autoattack_l2_eps), which runs "
            f"torchattacks' implementation, but {problem}: install it with {INSTALL_TORCHATTACKS} (--no-deps: it "
            "pins requests~=2.25, which would downgrade requests for the whole environment), or leave the "
            "autoattack budgets empty"
        )
    if (settings.get("autoattack_n") or 0) > settings["n"]:
        raise ValueError(
            f"interventions.adversarial.autoattack_n: {settings['autoattack_n']} is more than n ({settings['n']}): "
            "AutoAttack attacks a part of the other attacks' subset; use at most n, or null for all of it"
        )
    if num_classes is not None and num_classes < AUTOATTACK_MIN_CLASSES:
        raise ValueError(
            f"interventions.adversarial asks for AutoAttack, whose targeted attacks need at least "
            f"{AUTOATTACK_MIN_CLASSES} classes; this study's data has {num_classes}"
        )


def check_groups_csv(groups_csv: str, split: str, sizes: dict[str, int] | None) -> None:
    """A groups CSV exists and holds valid rows for a split (`data.subgroups.subgroup_rows`)."""
    if not Path(groups_csv).is_file():
        raise ValueError(f"interventions.subgroups.groups_csv: {groups_csv} is not a file")
    subgroup_rows(groups_csv, split, sizes[split] if sizes else None)


def check_selectable(specifications: list[Specification], interventions: dict[str, Any], families: list[str]) -> None:
    """Each specification names an intervention the study measures on the selection split (or a summary of them):
    otherwise every run would be trained and evaluated before the sheet step failed on it. `families`: those
    evaluated on the selection split."""
    measured = [
        name
        for family in families
        for name in planned_interventions(family, interventions.get(family, {}), SELECTION_SPLIT)
    ]
    selectable = measured + summary_interventions(measured)
    for index, spec in enumerate(specifications):
        if spec.intervention not in selectable:
            close = difflib.get_close_matches(spec.intervention, selectable, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"selection[{index}] ({spec.describe()}): the study does not measure {spec.intervention!r} on the "
                f"{SELECTION_SPLIT} split; {hint}it measures {', '.join(selectable)}"
            )


def check_device(device: str, local: bool) -> None:
    """A GPU the jobs are told to use must exist where they run. Checked only where the jobs run on this machine:
    on a cluster the login node may have no GPU while the compute nodes do."""
    if not local or not device.startswith("cuda"):
        return
    import torch  # only here: asking CUDA is the one way to know

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.partition(":")[2] or 0)
    if index >= count:
        found = f"{count} CUDA device(s)" if count else "no CUDA device (or a torch built without CUDA)"
        raise ValueError(
            f"runtime.device: {device}, but this machine has {found}: use runtime.device: auto (a GPU where there "
            "is one, else the CPU) or cpu"
        )
