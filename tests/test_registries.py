"""One place to add each kind of thing: a data source, an architecture, an intervention family, a sheet measure and a
per-example measure are each one registry entry (with its implementation beside it).

A copy of the library gets one entry appended to each registry module, and nothing else changes: not the schema,
the rules, the scripts or any other module. The real `snakemake` command then runs a study that uses all five, and
every table shows them.
"""

import os
import shutil
import subprocess

import pandas as pd
import pytest
import torch
import yaml
from test_workflow import ROOT, copy_workflow

pytestmark = [pytest.mark.integration]

# module of the library -> what is appended to it
ENTRIES = {
    "data/sources.py": '''

def _toy_images(data):
    """Tiny 8 px images of three classes."""
    return make_synthetic(num_classes=3, image_size=8, train_per_class=40, test_per_class=10, seed=5)


SOURCES["toy"] = Source(read=_toy_images, sizes=lambda data: {"train": 120, "test": 30})
''',
    "models/architectures.py": '''

def _toy_linear(num_classes, width):
    """A linear classifier on the pixels (torch is imported where the model is built, not where it is named)."""
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, num_classes))


ARCHITECTURES["toy_linear"] = Architecture(f"{__name__}:_toy_linear", 1)
''',
    "interventions/registry.py": """
FAMILIES["mirror"] = Family(
    f"{EVALUATORS}:MirrorFamily", names=lambda settings, split: ["mirror=horizontal"], prefixes=("mirror=",)
)
""",
    "interventions/families.py": '''

class MirrorFamily(LoadedFamily):
    """The split's images mirrored left to right."""

    def __init__(self, data_dir, settings, runtime, inputs=None, split="test"):
        super().__init__(data_dir, settings, runtime, split=split)
        data = load_split(data_dir, split)
        self.add("mirror=horizontal", np.ascontiguousarray(data.images[:, :, ::-1]), data.labels)
''',
    "sheets/sheet_measures.py": """
SHEET_MEASURES["best"] = SheetMeasure(lambda runs: float(runs.accuracy.max()), "best accuracy (%)")
""",
    "sheets/example_measures.py": """
PER_EXAMPLE_MEASURES["top_probability"] = ExampleMeasure(
    lambda examples: examples.mean_probs.max(axis=1), "the set's largest mean probability"
)
""",
}

STUDY = {
    "study": "toys",
    "data": {"source": "toy", "val_size": 30},
    "base": {"model": "toy_linear", "epochs": 1, "batch_size": 16, "lr": 0.05, "warmup_epochs": 0},
    "dimensions": {"lr": [0.02]},
    "seeds": [0, 1],
    "runtime": {"device": "cpu"},
    "interventions": {"families": ["clean", "mirror"]},
    "sheet": {"epsilon": 0.5},
    "selection": [{"intervention": "mirror=horizontal", "keep": "top_fraction", "value": 0.5}],
}


def test_a_source_an_architecture_a_family_and_two_measures_are_one_registry_entry_each(tmp_path):
    library = tmp_path / "library"
    shutil.copytree(ROOT / "src", library, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for module, entry in ENTRIES.items():
        path = library / "multisheets" / module
        path.write_text(path.read_text() + entry)
    (workdir := tmp_path / "work").mkdir()
    copy_workflow(workdir)
    (workdir / "toys.yaml").write_text(yaml.safe_dump(STUDY))
    environment = os.environ | {"PYTHONPATH": str(library)}  # the copy, not the installed library
    result = subprocess.run(
        ["snakemake", "--cores", "2", "--configfile", "toys.yaml"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=900,
        env=environment,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    (dataset,) = (workdir / "results/data").glob("*/dataset.json")
    assert yaml.safe_load(dataset.read_text())["source"] == "toy"
    (model,) = (workdir / "results/runs/base__seed=0").glob("model-*.pt")
    assert torch.load(model, weights_only=True)["model"] == "toy_linear"
    metrics = pd.read_parquet(workdir / "results/toys/tables/metrics.parquet")
    mirrored = metrics[metrics["intervention"] == "mirror=horizontal"]
    assert set(mirrored["family"]) == {"mirror"} and set(mirrored["split"]) == {"test", "val"}  # val: selection
    sheet = pd.read_parquet(workdir / "results/toys/sheets/sheet.parquet")
    assert {"mirror=horizontal", "clean"} <= set(sheet["intervention"]) and "best" in set(sheet["measure"])
    best = sheet[(sheet["measure"] == "best") & (sheet["intervention"] == "clean") & (sheet["scenario"] == "all")]
    clean = metrics[(metrics["intervention"] == "clean") & (metrics["split"] == "test")]
    assert best["value"].iloc[0] <= clean["accuracy"].max() + 1e-12
    per_example = pd.read_parquet(workdir / "results/toys/tables/per_example.parquet")
    assert "top_probability" in set(per_example["measure"])
    assert "top_probability" in set(
        pd.read_parquet(workdir / "results/toys/tables/per_example_ecdf.parquet")["measure"]
    )
    assert (workdir / "results/toys/figures/per_example_distributions.png").stat().st_size > 1000
