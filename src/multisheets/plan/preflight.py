"""Checks of a study that its schema cannot express, made by the workflow before any job starts.

Each refuses with a message that names the key or file and says what to write instead, so that a mistake costs
seconds rather than a trained population that then fails in a later step. Torch-free (torch is imported only to
ask whether a requested GPU exists, and only when one is requested).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from multisheets.data.subgroups import subgroup_rows
from multisheets.interventions.names import planned_interventions, summary_interventions
from multisheets.sheets.selection import SELECTION_SPLIT, Specification
from multisheets.study.config import HYPERPARAMETER_DEFAULTS

# Images per split of the sources whose sizes are known before the data stage runs (train: before the validation
# split is taken from it).
CIFAR10_SIZES = {"train": 50_000, "test": 10_000}


def source_sizes(data: dict[str, Any], data_dir: str | Path) -> dict[str, int] | None:
    """Images in the source's train/ and test/ parts, where known without reading the source: from the settings
    (synthetic), torchvision's CIFAR-10, or an earlier run of the data stage; None when not known yet."""
    if data["source"] == "synthetic":
        synthetic = data["synthetic"]
        return {split: synthetic["num_classes"] * synthetic[f"{split}_per_class"] for split in ("train", "test")}
    if data["source"] == "cifar10":
        return dict(CIFAR10_SIZES)
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


def check_families(interventions: dict[str, Any]) -> None:
    """A family listed in `interventions.families` must measure something with its settings."""
    families = interventions["families"]
    for family in ("adversarial", "shift"):
        if family in families and not planned_interventions(family, interventions[family]):
            what = {
                "adversarial": "interventions.adversarial.fgsm_eps, linf_eps and l2_eps are all empty",
                "shift": "interventions.shift lists no set (cifar10_1: true, or imagefolders)",
            }[family]
            raise ValueError(f"interventions.families lists {family}, but {what}: nothing would be measured")
    for key in ("official_dir", "frost_dir"):
        folder = interventions["corruption"][key]
        if "corruption" in families and folder and not Path(folder).is_dir():
            raise ValueError(f"interventions.corruption.{key}: {folder} is not a folder")
    for name, source in interventions["shift"]["imagefolders"].items() if "shift" in families else []:
        if not Path(source).exists():
            raise ValueError(f"interventions.shift.imagefolders.{name}: {source} does not exist")


def subgroup_names(interventions: dict[str, Any], split: str, sizes: dict[str, int] | None) -> list[str]:
    """The groups a groups CSV defines on a split, after checking it (`data.subgroup_rows`)."""
    groups_csv = interventions["subgroups"]["groups_csv"]
    if not Path(groups_csv).is_file():
        raise ValueError(f"interventions.subgroups.groups_csv: {groups_csv} is not a file")
    rows = subgroup_rows(groups_csv, split, sizes[split] if sizes else None)
    return sorted(rows["group"].unique())


def check_selectable(specifications: list[Specification], interventions: dict[str, Any], groups: list[str]) -> None:
    """Each specification names an intervention the study measures on the selection split (or a summary of them):
    otherwise every run would be trained and evaluated before the sheet step failed on it. `groups`: the groups
    the CSV defines on the selection split."""
    measured = [
        name
        for family in dict.fromkeys(["clean"] + interventions["families"])
        if family != "shift"  # reporting only: no selection split (check_specifications says so)
        for name in planned_interventions(family, interventions.get(family, {}), groups)
    ]
    selectable = measured + summary_interventions(measured)
    for index, spec in enumerate(specifications):
        if spec.intervention not in selectable:
            raise ValueError(
                f"selection[{index}] ({spec.describe()}): the study does not measure {spec.intervention!r} on the "
                f"{SELECTION_SPLIT} split; it measures {', '.join(selectable)}"
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
