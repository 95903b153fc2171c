"""What the workflow checks before any job (preflight), and the names of what each family will measure."""

import json
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from multisheets.data.arrays import load_split  # noqa: E402
from multisheets.figures.common import save  # noqa: E402
from multisheets.infra.lazy import resolve  # noqa: E402
from multisheets.interventions import registry  # noqa: E402
from multisheets.interventions.families import corrupted_split  # noqa: E402
from multisheets.interventions.registry import FAMILIES, planned_interventions  # noqa: E402
from multisheets.plan.identity import data_key, evaluation_key, family_identity  # noqa: E402
from multisheets.plan.preflight import (  # noqa: E402
    check_data,
    check_dimensions,
    check_families,
    check_selectable,
    check_widths,
    class_count,
    split_sizes,
)
from multisheets.plan.schema import validate_study  # noqa: E402
from multisheets.sheets.selection import Specification  # noqa: E402
from multisheets.study.config import number_as_text_hint  # noqa: E402
from multisheets.study.runs import expand_study  # noqa: E402

SETTINGS = {
    "clean": {},
    "corruption": {"types": ["fog", "snow"], "severities": [1, 3]},
    "adversarial": {
        "n": 4,
        "seed": 0,
        "fgsm_eps": [2],
        "linf_eps": [0.5, 1],
        "l2_eps": [0.25],
        "steps": 1,
        "autoattack_eps": [8],
        "autoattack_l2_eps": [0.5],
        "autoattack_n": 3,
    },
    "privacy": {"n": 4, "seed": 0},
    "shift": {"cifar10_1": False, "imagefolders": {"resampled": "anywhere"}},
}


def test_planned_interventions_are_what_each_family_measures(data_dir, cpu, tmp_path):
    """The preflight check knows each family's intervention names from its settings alone: they must be the names
    the family measures once loaded."""
    test = load_split(data_dir, "test")
    inputs = {"corruption": [], "shift": [str(tmp_path / "resampled.npz")]}
    for kind in SETTINGS["corruption"]["types"]:
        np.save(path := tmp_path / f"{kind}.npy", corrupted_split(kind, test, "test", seed=0))
        inputs["corruption"].append(str(path))
    np.savez(inputs["shift"][0], images=test.images[:3], labels=test.labels[:3])
    (groups := tmp_path / "groups.csv").write_text("index,group\n0,b\n1,a\n2,a\n")
    settings = SETTINGS | {"subgroups": {"groups_csv": str(groups)}}
    for family, entry in FAMILIES.items():
        loaded = resolve(entry.evaluator)(data_dir, settings[family] | {"batch_size": 8}, cpu, inputs.get(family))
        planned = planned_interventions(family, settings[family], "test")
        assert list(loaded.shapes()) == planned, family


def test_a_selection_may_name_a_summary_of_what_is_measured(tmp_path):
    (groups := tmp_path / "groups.csv").write_text("index,group,split\n0,a,val\n1,a,val\n0,b,test\n")
    interventions = {"families": ["clean", "corruption", "subgroups"], **SETTINGS, "subgroups": {"groups_csv": groups}}
    on_val = ["clean", "corruption", "subgroups"]
    for name in ("clean", "worst_class", "ece", "corruption=fog/severity=3", "corruption=snow", "corruption_mean"):
        check_selectable([Specification(name, "top_fraction", 0.5)], interventions, on_val)
    for name in ("group=a", "worst_group"):
        check_selectable([Specification(name, "top_fraction", 0.5)], interventions, on_val)
    for name in ("corruption=fog/severity=2", "corruption=frost", "group=b", "fgsm/eps=2/255"):
        with pytest.raises(ValueError, match=f"does not measure '{name}'"):
            check_selectable([Specification(name, "top_fraction", 0.5)], interventions, on_val)


def test_a_dimension_value_equal_to_the_base_is_refused_except_in_a_grid():
    study = {"base": {"lr": 0.1}, "dimensions": {"lr": [0.05, 0.1]}, "grid": False}
    with pytest.raises(ValueError, match="dimensions.lr: 0.1 equals base.lr"):
        check_dimensions(study)
    check_dimensions(study | {"grid": True})  # a grid needs the base value as one of its levels
    with pytest.raises(ValueError, match="dimensions.epochs: 30 equals base.epochs"):
        check_dimensions({"base": {}, "dimensions": {"epochs": [30]}, "grid": False})  # the schema's default


def test_a_width_is_refused_for_a_model_with_torchvision_widths():
    def study(**config):
        return expand_study({**config, "seeds": [0]})

    check_widths(study(dimensions={"model": ["resnet50", "vit_b_16"], "width": [16]}))  # 16: the base resnet18's
    check_widths(study(base={"model": "vgg11_bn", "width": None}))  # null: the model's own widths
    with pytest.raises(ValueError, match=r"base.width: 16 with model resnet50 \(run model=resnet50__seed=0\), whose"):
        check_widths(study(base={"width": 16}, dimensions={"model": ["resnet50"]}))
    with pytest.raises(ValueError, match="dimensions.width: 8 with model vgg11_bn .* to resnet18, cnn, fastnet only"):
        check_widths(study(base={"model": "vgg11_bn"}, dimensions={"width": [8]}))


def test_split_sizes_are_known_before_the_data_stage_where_they_can_be(tmp_path):
    per_class = {"num_classes": 3, "train_per_class": 60, "test_per_class": 10}
    synthetic = {"source": "synthetic", "val_size": 30, "synthetic": per_class}
    assert split_sizes(synthetic, tmp_path) == {"train": 150, "val": 30, "test": 30}
    cifar = split_sizes({"source": "cifar10", "val_size": 5000}, tmp_path)
    assert cifar == {"train": 45000, "val": 5000, "test": 10000}
    folder = {"source": "imagefolder", "val_size": 10, "path": "x.tar.gz"}
    assert split_sizes(folder, tmp_path) is None  # not read yet: the training job checks
    (tmp_path / "dataset.json").write_text(json.dumps({"sizes": {"train": 90, "val": 10, "test": 20}}))
    assert split_sizes(folder, tmp_path) == {"train": 90, "val": 10, "test": 20}
    with pytest.raises(ValueError, match="data.val_size: 180 must lie between 1 and the 180 training images"):
        split_sizes(synthetic | {"val_size": 180}, tmp_path)


def test_keys_follow_what_a_result_depends_on(tmp_path):
    synthetic = {"source": "synthetic", "path": "", "val_size": 30, "split_seed": 0, "synthetic": {"image_size": 16}}
    assert data_key(synthetic | {"path": "elsewhere"}) == data_key(synthetic)  # synthetic data has no path
    assert data_key(synthetic | {"synthetic": {"image_size": 20}}) != data_key(synthetic)
    cifar = {"source": "cifar10", "path": "resources/cifar10", "val_size": 5000, "split_seed": 0}
    assert data_key(cifar | {"path": "/scratch/cifar10"}) == data_key(cifar)  # only where it is downloaded to
    folder = {"source": "imagefolder", "path": "a.tar.gz", "val_size": 10, "split_seed": 0}
    assert data_key(folder | {"path": "b.tar.gz"}) != data_key(folder)
    (groups := tmp_path / "groups.csv").write_text("index,group\n0,a\n")
    settings = {"groups_csv": str(groups)}
    before = evaluation_key("m", "subgroups", "test", family_identity("subgroups", settings))
    groups.write_text("index,group\n0,b\n")  # the same file name, other groups
    assert evaluation_key("m", "subgroups", "test", family_identity("subgroups", settings)) != before


def test_a_pdf_figure_has_the_same_bytes_whenever_it_is_drawn(tmp_path, monkeypatch):
    """Matplotlib writes the creation date into a PDF (from SOURCE_DATE_EPOCH when set): a rerun changed every PDF."""
    pdfs = []
    for epoch in ("1000000000", "2000000000"):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        figure, axis = plt.subplots()
        axis.plot([0, 1], [1, 0])
        save(figure, tmp_path / f"{epoch}.png", pdf := tmp_path / f"{epoch}.pdf")
        pdfs.append(pdf.read_bytes())
    assert pdfs[0] == pdfs[1]
    assert os.environ["SOURCE_DATE_EPOCH"] == "2000000000"


def test_a_number_that_arrived_as_text_gets_the_hint_that_applies():
    assert "write it with a decimal point" in number_as_text_hint("1e-3")  # YAML's own reading of 1e-3
    hint = number_as_text_hint("0.1")  # has a decimal point: it came from --config, not from YAML
    assert "--config" in hint and "decimal point" not in hint
    assert number_as_text_hint("fast") == "" and number_as_text_hint(0.1) == ""


def test_a_study_named_like_a_shared_folder_is_refused():
    with pytest.raises(ValueError, match="study: 'runs' is reserved"):
        validate_study({"study": "runs"})
    with pytest.raises(ValueError, match="study: 'two words' does not match"):
        validate_study({"study": "two words"})


def test_a_selection_on_an_instance_the_study_does_not_evaluate_names_the_nearest():
    interventions = {"adversarial": {"fgsm_eps": [2], "linf_eps": [1, 4], "l2_eps": [0.25], "n": 8, "steps": 1}}
    spec = Specification(intervention="pgd_linf/eps=8/255", keep="top_fraction", value=0.5)
    with pytest.raises(ValueError, match=r"does not measure 'pgd_linf/eps=8/255'.*did you mean 'pgd_linf/eps="):
        check_selectable([spec], interventions, ["clean", "adversarial"])


def test_the_data_section_is_checked_before_any_job(tmp_path):
    """An unknown source, an image size out of range or not a number, a validation split as large as a source's
    training part, and data that a family cannot read are refused with the key named."""
    with pytest.raises(ValueError, match=r"data.source: 'cifar1000' is not one of \['cifar10', 'cifar100'"):
        validate_study({"data": {"source": "cifar1000"}})
    for size, reason in (
        (4, "less than the minimum of 8"),
        (1024, "greater than the maximum of 512"),
        ("32", "not of type"),
    ):
        with pytest.raises(ValueError, match=f"data.image_size: .*{reason}"):
            validate_study({"data": {"image_size": size}})
    with pytest.raises(ValueError, match="data.resize: 'cubic' is not one of"):
        validate_study({"data": {"image_size": 32, "resize": "cubic"}})
    study = {"data": {"source": "stl10", "image_size": 32}}
    validate_study(study)
    with pytest.raises(ValueError, match="data.val_size: 5000 must lie between 1 and the 5000 training images"):
        split_sizes(study["data"], tmp_path)  # STL-10's labelled training part is 5,000 images
    assert split_sizes(study["data"] | {"val_size": 500}, tmp_path) == {"train": 4500, "val": 500, "test": 8000}

    config = {"interventions": {"corruption": {"official_dir": "cifar10-c"}}}
    validate_study(config)
    official = config["interventions"]
    check_data({"source": "cifar10", "image_size": None}, official, ["clean", "corruption"])
    check_data({"source": "cifar10", "image_size": 64}, official, ["clean"])  # the corruptions are not evaluated
    with pytest.raises(ValueError, match="official_dir: CIFAR-10-C's images are 32x32.*to 64x64"):
        check_data({"source": "cifar10", "image_size": 64}, official, ["clean", "corruption"])
    official["shift"]["cifar10_1"] = True
    check_data({"source": "imagefolder", "image_size": None}, official, ["clean", "shift"])  # may hold CIFAR-10
    with pytest.raises(ValueError, match="cifar10_1: CIFAR-10.1 has the CIFAR-10 classes, data.source mnist"):
        check_data({"source": "mnist", "image_size": None}, official, ["clean", "shift"])


# --- AutoAttack -----------------------------------------------------------------------------------------------------


def adversarial_study(**adversarial) -> dict:
    study = {"interventions": {"families": ["clean", "adversarial"], "adversarial": adversarial}}
    validate_study(study)
    return study["interventions"]


SPLITS = {"clean": ["test", "val"], "adversarial": ["test"]}


def test_adversarial_evaluation_keys_do_not_change_with_autoattack_off():
    """Pinned on the code before AutoAttack existed: a study that does not ask for it evaluates nothing again."""
    default = adversarial_study()["adversarial"]
    assert evaluation_key("m", "adversarial", "test", family_identity("adversarial", default)) == "bb625fa8d752"
    custom = adversarial_study(n=500, linf_eps=[1, 8], l2_eps=[], steps=20, restarts=2)["adversarial"]
    assert evaluation_key("m", "adversarial", "val", family_identity("adversarial", custom)) == "61975ca53eef"
    with_autoattack = adversarial_study(autoattack_eps=[8])["adversarial"]
    assert family_identity("adversarial", with_autoattack) != family_identity("adversarial", default)
    # without budgets, AutoAttack's other settings change nothing computed, so no key
    unused = adversarial_study(autoattack_version="plus", autoattack_n=10)["adversarial"]
    assert family_identity("adversarial", unused) == family_identity("adversarial", default)
    used = adversarial_study(autoattack_eps=[8], autoattack_version="plus")["adversarial"]
    assert family_identity("adversarial", used) != family_identity("adversarial", with_autoattack)


def test_autoattack_needs_torchattacks_only_when_asked_for(monkeypatch):
    find_spec = registry.importlib.util.find_spec
    monkeypatch.setattr(
        registry.importlib.util, "find_spec", lambda name: None if name == "torchattacks" else find_spec(name)
    )
    assert registry.torchattacks_problem() == "torchattacks is not installed"
    check_families(adversarial_study(), SPLITS, None, num_classes=2)  # off: neither torchattacks nor classes matter
    with pytest.raises(ValueError, match='AutoAttack.*not installed: install it with pip install --no-deps "torch'):
        check_families(adversarial_study(autoattack_l2_eps=[0.5]), SPLITS, None)


def test_an_old_torchattacks_is_named(monkeypatch):
    find_spec = registry.importlib.util.find_spec
    monkeypatch.setattr(
        registry.importlib.util, "find_spec", lambda name: find_spec("json" if name == "torchattacks" else name)
    )
    monkeypatch.setattr(registry.importlib.metadata, "version", lambda name: "3.4.1")
    assert registry.torchattacks_problem() == "torchattacks 3.4.1 is installed, AutoAttack needs torchattacks>=3.5"
    monkeypatch.setattr(registry.importlib.metadata, "version", lambda name: "3.10.0")
    assert registry.torchattacks_problem() is None


def test_autoattack_settings_that_cannot_run_are_refused_before_any_job(monkeypatch, tmp_path):
    monkeypatch.setattr("multisheets.plan.preflight.torchattacks_problem", lambda: None)  # as if installed
    check_families(adversarial_study(autoattack_eps=[8], autoattack_n=100, n=100), SPLITS, None, num_classes=4)
    with pytest.raises(ValueError, match="autoattack_n: 101 is more than n \\(100\\)"):
        check_families(adversarial_study(autoattack_eps=[8], autoattack_n=101, n=100), SPLITS, None)
    with pytest.raises(ValueError, match="at least 4 classes; this study's data has 3"):
        check_families(adversarial_study(autoattack_eps=[8]), SPLITS, None, num_classes=3)
    with pytest.raises(ValueError, match="autoattack_version: 'fast' is not one of"):
        adversarial_study(autoattack_eps=[8], autoattack_version="fast")
    synthetic = {"source": "synthetic", "synthetic": {"num_classes": 3}}
    assert class_count(synthetic, tmp_path) == 3 and class_count({"source": "cifar10"}, tmp_path) is None
    (tmp_path / "dataset.json").write_text(json.dumps({"classes": ["a", "b", "c", "d", "e"]}))
    assert class_count({"source": "imagefolder"}, tmp_path) == 5  # an earlier data stage knows
