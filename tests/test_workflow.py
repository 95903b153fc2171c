"""The workflow through the real `snakemake` command, on a tiny ImageFolder the test writes."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import write_imagefolder

from multisheets.data.synthetic import make_synthetic

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ["Snakefile", "config.yaml", "rules", "workflow", "profiles", "report", "envs", "config"]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake is not installed"),
]


def copy_workflow(target: Path) -> Path:
    for name in WORKFLOW_FILES:
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target / name)
    return target


def snakemake(workdir: Path, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """`snakemake *args` in `workdir` (with `env` added to the environment)."""
    environment = os.environ | env if env else None
    result = subprocess.run(
        ["snakemake", *args], cwd=workdir, capture_output=True, text=True, timeout=900, env=environment
    )
    if check and result.returncode != 0:
        pytest.fail(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def tiny_study(data_path: Path, shift_path: Path, groups_csv: Path) -> dict:
    return {
        "study": "tiny",
        "data": {"source": "imagefolder", "path": str(data_path), "val_size": 40},
        "base": {"model": "cnn", "width": 4, "epochs": 1, "batch_size": 32, "lr": 0.05},
        "dimensions": {"lr": [0.02, 0.1, 1e12]},  # 1e12 diverges: recorded, excluded, and the study goes on
        "seeds": [0, 1],
        "train": {"runs_per_job": 4, "device": "cpu"},
        "sheet": {"epsilon": 0.5},
        "selection": [  # all read the validation split
            {"intervention": "clean", "keep": "top_fraction", "value": 0.5},
            {"intervention": "pgd_linf/eps=2/255", "keep": "at_least_quantile", "value": 0.2},
            {"intervention": "worst_group", "keep": "at_least_quantile", "value": 0.1},
        ],
        "interventions": {
            "families": ["clean", "corruption", "adversarial", "privacy", "shift", "subgroups"],
            "subgroups": {"groups_csv": str(groups_csv)},
            "corruption": {"types": ["gaussian_noise", "fog"], "severities": [1, 5]},
            "adversarial": {"n": 12, "fgsm_eps": [2], "linf_eps": [2], "l2_eps": [0.25], "steps": 2},
            "privacy": {"n": 20},
            "shift": {"imagefolders": {"resampled": str(shift_path)}},
        },
    }


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    splits, classes, _ = make_synthetic(num_classes=3, image_size=16, train_per_class=40, test_per_class=10)
    images = write_imagefolder(tmp_path_factory.mktemp("images") / "tiny", splits, classes)
    shifted, _, _ = make_synthetic(num_classes=3, image_size=16, train_per_class=1, test_per_class=5, seed=9)
    shift = write_imagefolder(tmp_path_factory.mktemp("images") / "shift", {"test": shifted["test"]}, classes)
    groups = workdir / "groups.csv"
    groups.write_text(
        "index,group,split\n"
        + "".join(f"{i},{'a' if i < 12 else 'b'},test\n" for i in range(30))
        + "".join(f"{i},{'a' if i % 3 else 'b'},val\n" for i in range(40))
    )
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(tiny_study(images, shift, groups)))
    result = snakemake(workdir, "--cores", "2", "--configfile", "tiny.yaml")
    return workdir, result


def test_study_runs_end_to_end(finished_study):
    workdir, _ = finished_study
    runs = [f"{setting}__seed={seed}" for setting in ("base", "lr=0.02", "lr=0.1", "lr=1e+12") for seed in (0, 1)]
    for run_id in runs:
        assert len(list((workdir / "results/runs" / run_id).glob("model-*.pt"))) == 1
        assert len(list((workdir / "results/runs" / run_id / "predictions/test").glob("clean-*.npz"))) == 1
        # the selection split is evaluated only for the families the specifications read (and clean)
        evaluated_on_val = {
            path.stem.rsplit("-", 1)[0] for path in (workdir / "results/runs" / run_id / "predictions/val").iterdir()
        }
        assert evaluated_on_val == {"clean", "adversarial", "subgroups"}
    for figure in (
        "sheet_heatmap",
        "dimension_trends",
        "epsilon_curves",
        "disagreement_base_seeds",
        "selection_effect",
        "per_example_distributions",
        "ensemble_sizes",
        "abstention",
        "gde",
        "seed_convergence",
    ):
        for suffix in (".png", ".pdf"):
            assert (workdir / "results/tiny/figures" / f"{figure}{suffix}").stat().st_size > 1000
    train_logs = [path.read_text() for path in (workdir / "logs/train").glob("*.log")]
    assert sorted(log.count("epoch 1/1") for log in train_logs) == [2, 4]  # runs_per_job: 4
    assert sum("lr=1e+12__seed=0 diverged" in log for log in train_logs) == 1
    assert "| scenario |" in (workdir / "results/tiny/sheets/sheet.md").read_text()


def test_sheet_agrees_with_metrics_table(finished_study):
    workdir, _ = finished_study
    metrics = pd.read_parquet(workdir / "results/tiny/tables/metrics.parquet")
    sheet = pd.read_parquet(workdir / "results/tiny/sheets/sheet.parquet")
    rashomon_sets = pd.read_csv(workdir / "results/tiny/tables/rashomon.csv")
    measured = {
        "clean",
        "corruption=gaussian_noise/severity=1",
        "corruption=gaussian_noise/severity=5",
        "corruption=fog/severity=1",
        "corruption=fog/severity=5",
        "fgsm/eps=2/255",
        "pgd_linf/eps=2/255",
        "pgd_l2/eps=0.25",
        "mia_loss",
        "mia_confidence",
        "shift=resampled",
        "group=a",
        "group=b",
    }
    derived = {"corruption=gaussian_noise", "corruption=fog", "corruption_mean", "worst_class", "ece", "worst_group"}
    test = metrics[metrics["split"] == "test"]
    assert set(test["intervention"]) == measured | derived
    assert len(test) == 8 * len(measured | derived)
    on_val = {
        "clean",
        "fgsm/eps=2/255",
        "pgd_linf/eps=2/255",
        "pgd_l2/eps=0.25",
        "group=a",
        "group=b",
        "worst_class",
        "ece",
        "worst_group",
    }
    assert set(metrics.loc[metrics["split"] == "val", "intervention"]) == on_val
    assert set(metrics["split"]) == {"val", "test"}
    diverged = metrics[metrics["run_id"].str.startswith("lr=1e+12")]
    assert (diverged["status"] == "diverged").all() and diverged["accuracy"].isna().all()
    rashomon_sets = pd.read_csv(workdir / "results/tiny/tables/rashomon.csv")
    assert not rashomon_sets[rashomon_sets["run_id"].str.startswith("lr=1e+12")]["in_rashomon_set"].any()
    assert set(metrics.loc[metrics["intervention"] == "corruption_mean", "n"]) == {30}  # distinct test images
    fog = metrics[metrics["intervention"].str.startswith("corruption=fog/")].groupby("run_id")["accuracy"].mean()
    summary = metrics[metrics["intervention"] == "corruption=fog"].set_index("run_id")["accuracy"]
    assert np.allclose(fog.sort_index(), summary.sort_index(), equal_nan=True)
    assert (
        set(sheet["intervention"])
        == {
            "clean",
            "fgsm/eps=2/255",
            "pgd_linf/eps=2/255",
            "pgd_l2/eps=0.25",
            "mia_loss",
            "mia_confidence",
            "shift=resampled",
            "group=a",
            "group=b",
        }
        | derived
    )
    groups = test[test["intervention"].isin(["group=a", "group=b"])].groupby("run_id")["accuracy"].min()
    worst = test[test["intervention"] == "worst_group"].set_index("run_id")["accuracy"]
    assert np.allclose(groups.sort_index(), worst.sort_index(), equal_nan=True)
    for scenario in ("seed", "lr", "all"):
        members = rashomon_sets[(rashomon_sets["scenario"] == scenario) & rashomon_sets["in_rashomon_set"]]["run_id"]
        val = metrics[(metrics["intervention"] == "clean") & (metrics["split"] == "val")].set_index("run_id")[
            "accuracy"
        ]
        best = val[rashomon_sets[rashomon_sets["scenario"] == scenario]["run_id"]].max()
        assert (val[members] >= best - 0.5 - 1e-12).all()
        clean = test[(test["intervention"] == "clean") & test["run_id"].isin(members)]["accuracy"]
        cells = sheet[
            (sheet["scenario"] == scenario) & (sheet["intervention"] == "clean") & (sheet["selection"] == "rashomon")
        ].set_index("measure")
        assert cells.loc["range", "value"] == pytest.approx(clean.max() - clean.min())
        assert cells.loc["std", "value"] == pytest.approx(clean.std(ddof=1) if len(clean) > 1 else 0.0)
        assert cells.loc["range", "n_runs"] == len(members)
        if len(members) > 1:
            assert 0 <= cells.loc["between_run_std", "ci_low"] <= cells.loc["between_run_std", "ci_high"]
            assert cells.loc["range_null", "value"] > 0 and 0 <= cells.loc["p_between_run", "value"] <= 1
    wide_csv = pd.read_csv(workdir / "results/tiny/sheets/sheet_range.csv", index_col=0)
    long_range = sheet[(sheet["measure"] == "range") & (sheet["selection"] == "rashomon")].set_index(
        ["scenario", "intervention"]
    )["value"]
    assert np.allclose(wide_csv.stack().sort_index(), long_range.sort_index())


def test_seed_population_tables_agree_with_the_sheet(finished_study):
    """Both base seeds are in the seed scenario's Rashomon set (epsilon 0.5): the convergence table's last point is
    the sheet's row, and the GDE table's error and disagreement are its mean and disagreement."""
    workdir, _ = finished_study
    tables = workdir / "results/tiny/tables"
    sheet = pd.read_csv(workdir / "results/tiny/sheets/sheet.csv")
    rashomon = pd.read_csv(tables / "rashomon.csv")
    assert rashomon[rashomon["scenario"] == "seed"]["in_rashomon_set"].all()
    seed = sheet[(sheet["scenario"] == "seed") & (sheet["selection"] == "rashomon")].set_index(
        ["intervention", "measure"]
    )
    convergence = pd.read_csv(tables / "seed_convergence.csv")
    assert set(convergence["n_seeds"]) == {2}
    for row in convergence.itertuples():
        assert row.value == pytest.approx(seed.loc[(row.intervention, row.measure), "value"], nan_ok=True)
    gde = pd.read_csv(tables / "gde.csv").set_index("intervention")
    assert "mia_loss" not in gde.index and "clean" in gde.index
    for intervention, row in gde.iterrows():
        assert row["test_error"] == pytest.approx(1 - seed.loc[(intervention, "mean"), "value"])
        assert row["disagreement"] == pytest.approx(seed.loc[(intervention, "disagreement"), "value"])


def test_per_example_tables_agree_with_the_sheet(finished_study):
    workdir, _ = finished_study
    tables = {
        name: pd.read_parquet(workdir / "results/tiny/tables" / f"{name}.parquet")
        for name in ("per_example", "per_example_ecdf", "ensembles", "abstention")
    }
    sheet = pd.read_parquet(workdir / "results/tiny/sheets/sheet.parquet")
    rashomon = sheet[sheet["selection"] == "rashomon"].set_index(["scenario", "intervention", "measure"])["value"]
    measures = tables["per_example"].set_index(["scenario", "selection", "intervention", "measure"])["value"]
    assert set(tables["per_example"]["selection"]) == {"rashomon", "selected"}
    assert set(tables["per_example"]["intervention"]) == {
        "clean",
        "corruption_mean",
        "corruption=gaussian_noise",
        "corruption=fog",
        "fgsm/eps=2/255",
        "pgd_linf/eps=2/255",
        "pgd_l2/eps=0.25",
        "shift=resampled",
        "group=a",
        "group=b",
    }
    assert measures.xs("rashomon_capacity", level="measure").between(1, 3).all()  # three classes
    for measure in ("viable_range_true", "viable_range_predicted", "self_consistency", "arbitrary"):
        assert measures.xs(measure, level="measure").dropna().between(0, 1).all()
    ecdf = tables["per_example_ecdf"]
    assert (
        ecdf.groupby(["scenario", "selection", "intervention", "measure"])["share_at_most"].last().dropna() == 1
    ).all()
    ensembles = tables["ensembles"].set_index(["scenario", "selection", "intervention", "ensemble_size", "measure"])
    abstention = tables["abstention"].set_index(["scenario", "selection", "intervention", "threshold", "measure"])
    ensembles, abstention = ensembles.sort_index(), abstention.sort_index()
    assert "pgd_linf/eps=2/255" not in set(tables["ensembles"]["intervention"])  # attacks: no remedies
    for scenario in ("seed", "lr", "all"):
        n_runs = int(tables["per_example"].query("scenario == @scenario and selection == 'rashomon'")["n_runs"].iloc[0])
        for intervention in ("clean", "corruption_mean"):
            one = ensembles.loc[(scenario, "rashomon", intervention, 1)]
            assert one.loc["accuracy", "value"] == pytest.approx(rashomon[scenario, intervention, "mean"], abs=1e-6)
            assert abstention.loc[(scenario, "rashomon", intervention, 0.0, "coverage"), "value"] == 1.0
            sizes = ensembles.loc[(scenario, "rashomon", intervention)].xs("accuracy", level="measure")["n_ensembles"]
            assert sizes.to_dict() == {k: n_runs // k for k in (1, 2, 4, 8, 16)}
            if n_runs > 1:
                disagreement = rashomon[scenario, intervention, "disagreement"]
                assert one.loc["churn", "value"] == pytest.approx(disagreement)
                assert 1 - measures[scenario, "rashomon", intervention, "self_consistency"] == pytest.approx(
                    disagreement
                )
                residual = abstention.loc[(scenario, "rashomon", intervention, 0.0, "residual_disagreement"), "value"]
                assert residual == pytest.approx(disagreement)
            coverage = abstention.xs(
                (scenario, "rashomon", intervention, "coverage"),
                level=["scenario", "selection", "intervention", "measure"],
            )["value"]
            assert coverage.is_monotonic_decreasing


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no LaTeX engine (pdflatex) on this machine")
def test_the_sheets_latex_tables_compile(finished_study, tmp_path):
    workdir, _ = finished_study
    tables = sorted((workdir / "results/tiny/sheets").glob("*.tex"))
    assert [path.name for path in tables] == ["findings.tex", "sheet.tex"]
    inputs = "".join(f"\\input{{{path}}}\\clearpage " for path in tables)
    document = f"\\documentclass{{article}}\\usepackage{{booktabs}}\\begin{{document}}{inputs}\\end{{document}}\n"
    (tmp_path / "paper.tex").write_text(document)
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path, capture_output=True
    )
    assert done.returncode == 0, done.stdout.decode(errors="replace")[-3000:]


def test_report_builds(finished_study):
    workdir, _ = finished_study
    done = snakemake(workdir, "--configfile", "tiny.yaml", "--report", "results/tiny/report.html")
    report = workdir / "results/tiny/report.html"
    assert report.exists() and report.stat().st_size > 10_000
    assert "Missing metadata" not in done.stdout + done.stderr  # the report of the study that ran


def test_second_run_has_nothing_to_do_even_after_touching_scripts(finished_study):
    workdir, _ = finished_study
    for script in (workdir / "workflow/scripts").glob("*.py"):
        script.write_text(script.read_text() + "\n# touched\n")
    result = snakemake(workdir, "--cores", "1", "--configfile", "tiny.yaml", "--dry-run")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_second_study_leaves_the_first_intact(finished_study):
    workdir, _ = finished_study
    first = {path: path.read_bytes() for path in (workdir / "results/tiny").rglob("*") if path.is_file()}
    second = yaml.safe_load((workdir / "tiny.yaml").read_text()) | {"study": "tiny-again"}
    second["sheet"] = {"epsilon": 1.0}  # another sheet from the same runs: no run trains or evaluates again
    (workdir / "again.yaml").write_text(yaml.safe_dump(second))
    done = snakemake(workdir, "--cores", "2", "--configfile", "again.yaml")
    assert not re.search(r"\brule (train|evaluate)_", done.stdout + done.stderr)
    assert "Findings: does multiplicity persist after model selection?" in done.stdout + done.stderr
    assert (workdir / "results/tiny-again/sheets/findings.csv").is_file()
    assert {path: path.read_bytes() for path in first} == first  # not one byte of the first study changed
    back = snakemake(workdir, "--cores", "1", "--configfile", "tiny.yaml", "--dry-run")
    assert "Nothing to be done" in back.stdout + back.stderr  # and the first study is still complete


def test_lint_is_clean():
    result = snakemake(ROOT, "--lint", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_study_resolves_the_full_dag(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "--dry-run", "--quiet", "rules")
    text = result.stdout + result.stderr
    assert re.search(r"\btrain_base__seeds=0-4\+lr=0.05__seeds=0-4\b", text) and "multiplicity_sheet" in text


@pytest.mark.parametrize("preset", sorted(p.name for p in (ROOT / "config").glob("*.yaml")))
def test_every_preset_resolves(preset, tmp_path):
    study = yaml.safe_load((ROOT / "config" / preset).read_text())
    if study.get("data", {}).get("source") == "imagefolder":
        # the user's archive: a dry run only needs the file to exist
        (placeholder := tmp_path / "archive.tar.gz").touch()
        study["data"]["path"] = str(placeholder)
    (config := tmp_path / preset).write_text(yaml.safe_dump(study))
    result = snakemake(ROOT, "--dry-run", "--forceall", "--quiet", "rules", "--configfile", str(config))
    assert re.search(r"\btrain_base__seeds=\S+", result.stdout + result.stderr)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"epochz": 3}, "epochz"),
        ({"base": {"epochs": "three"}}, "three"),
        ({"dimensions": {"learning_rate": [0.1]}}, "learning_rate"),
        ({"base": {"model": "vgg"}}, "vgg"),
        ({"base": {"optimizer": "lion"}}, "lion"),
        ({"dimensions": {"model": ["vgg"]}}, "dimensions.model: 'vgg' is not a valid model"),
        ({"dimensions": {"lr": [-0.1]}}, "dimensions.lr: -0.1 is not a valid lr"),
        ({"dimensions": {"lr": ["1e-3"]}}, "YAML read 1e-3 as text"),
        ({"seeds": [0, 0]}, "seeds: repeated values [0]"),
        (
            {"selection": [{"intervention": "clean", "keep": "top_fraction", "value": 0.5, "split": "test"}]},
            "The test split is for reporting only",
        ),
        (
            {"selection": [{"intervention": "shift=cifar10_1", "keep": "top_fraction", "value": 0.5}]},
            "shift sets are for reporting only",
        ),
        (
            {"selection": [{"intervention": "worst_group", "keep": "top_fraction", "value": 0.5}]},
            "add it to interventions.families",
        ),
        ({"interventions": {"families": ["clean", "subgroups"]}}, "groups_csv"),
        # Each of these used to train and evaluate everything first (or crash inside a job).
        (
            {
                "interventions": {"families": ["clean", "adversarial"], "adversarial": {"linf_eps": [1]}},
                "selection": [{"intervention": "pgd_linf/eps=3/255", "keep": "top_fraction", "value": 0.5}],
            },
            "the study does not measure 'pgd_linf/eps=3/255' on the val split",
        ),
        (
            {
                "interventions": {"families": ["clean", "corruption"], "corruption": {"types": ["fog"]}},
                "selection": [{"intervention": "corruption=snow", "keep": "top_fraction", "value": 0.5}],
            },
            "the study does not measure 'corruption=snow'",
        ),
        ({"interventions": {"families": ["clean", "corruption"], "corruption": {"types": []}}}, "corruption.types: []"),
        (
            {"interventions": {"families": ["clean", "corruption"], "corruption": {"severities": []}}},
            "corruption.severities: []",
        ),
        (
            {"interventions": {"families": ["clean", "adversarial"], "adversarial": {"fgsm_eps": [0]}}},
            "adversarial.fgsm_eps.0: 0 is less",
        ),
        (
            {
                "interventions": {
                    "families": ["adversarial"],
                    "adversarial": {"fgsm_eps": [], "linf_eps": [], "l2_eps": []},
                }
            },
            "give it nothing to measure",
        ),
        (
            {"interventions": {"families": ["clean", "shift"], "shift": {"cifar10_1": False}}},
            "interventions.families lists shift, but its settings (interventions.shift) give it nothing to measure",
        ),
        ({"interventions": {"families": "clean"}}, "'clean' is not of type 'array'"),
        ({"runtime": {"device": "cuda:63"}}, "runtime.device: cuda:63, but this machine has"),
        ({"dimensions": {"lr": [0.1]}}, "dimensions.lr: 0.1 equals base.lr"),
        ({"base": {"batch_size": 60000}}, "batch_size 60000 is larger than the 45000 training images"),
        ({"base": {"model": "resnet50", "width": 16}}, "base.width: 16 with model resnet50 (run base__seed=0)"),
    ],
)
def test_config_errors_stop_before_any_job(tmp_path, change, message):
    workdir = copy_workflow(tmp_path)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    for key, value in change.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and key in config else value
    (workdir / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "--cores", "1", "--configfile", "bad.yaml", check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (workdir / "results").exists()


@pytest.mark.parametrize(
    "rows,message",
    [
        ("0,a\n1,a\n1,b\n", "test positions listed more than once (line 3, 4)"),
        ("0,a\n1.5,b\n", "column 'index' must hold whole numbers, positions in the split (line 3)"),
        ("0,a\nseven,b\n", "column 'index' must hold whole numbers, positions in the split (line 3)"),
        ("0,a\n1,\n", "rows without a group name (line 3)"),
        ("0,a\n10000,b\n", "test positions must lie in 0..9999 (line 3)"),
    ],
)
def test_a_broken_groups_csv_is_named_before_any_job(tmp_path, rows, message):
    """Repeated positions were counted twice (a group of 60 images reported as 120), the others failed inside an
    evaluation job with tracebacks that did not name the file, after every run was trained."""
    workdir = copy_workflow(tmp_path)
    (workdir / "groups.csv").write_text("index,group\n" + rows)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["interventions"] |= {"families": ["clean", "subgroups"], "subgroups": {"groups_csv": "groups.csv"}}
    (workdir / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "--cores", "1", "--configfile", "bad.yaml", check=False)
    assert result.returncode != 0
    assert f"groups.csv: {message}" in result.stdout + result.stderr
    assert not (workdir / "results").exists()


def test_snakefmt_is_clean():
    if shutil.which("snakefmt") is None:
        pytest.skip("snakefmt is not installed")
    result = subprocess.run(["snakefmt", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_study_whose_runs_all_diverge_finishes_with_a_sheet_that_says_so(tmp_path):
    workdir = copy_workflow(tmp_path)
    study = {
        "study": "diverging",
        "data": {
            "source": "synthetic",
            "path": "",
            "val_size": 12,
            "synthetic": {"num_classes": 3, "image_size": 16, "train_per_class": 12, "test_per_class": 4},
        },
        "base": {"model": "cnn", "width": 4, "epochs": 1, "batch_size": 8, "lr": 1e12, "warmup_epochs": 0},
        "seeds": [0, 1],
        "train": {"device": "cpu"},
        "interventions": {"families": ["clean", "corruption"], "corruption": {"types": ["fog"], "severities": [1]}},
        "selection": [{"intervention": "clean", "keep": "top_fraction", "value": 0.5}],
    }
    (workdir / "diverging.yaml").write_text(yaml.safe_dump(study))
    snakemake(workdir, "--cores", "2", "--configfile", "diverging.yaml")
    assert "No run is in any Rashomon set" in (workdir / "results/diverging/sheets/sheet.md").read_text()
    rashomon_sets = pd.read_csv(workdir / "results/diverging/tables/rashomon.csv")
    assert (rashomon_sets["status"] == "diverged").all() and not rashomon_sets["in_rashomon_set"].any()
    for figure in ("findings", "sheet_heatmap", "per_example_distributions", "ensemble_sizes", "abstention"):
        assert (workdir / f"results/diverging/figures/{figure}.png").stat().st_size > 1000
    assert pd.read_parquet(workdir / "results/diverging/tables/per_example.parquet").empty
