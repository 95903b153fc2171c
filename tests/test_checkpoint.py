"""The model file's layout: written by training, read by evaluation, and stable for models users already have."""

import pytest
import torch

from multisheets.models.checkpoint import FIELDS, checkpoint_of, load_model, read_checkpoint, write_checkpoint
from multisheets.models.zoo import build_model

INFO = {"classes": ["a", "b", "c"], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
SUMMARY = {
    "run_id": "base__seed=0",
    "status": "completed",
    "hyperparameters": {"model": "cnn", "width": 4, "tta": "flip"},
}


def test_checkpoint_round_trip_keeps_field_order_and_rebuilds_the_model(tmp_path, cpu):
    module = build_model("cnn", 3, INFO["mean"], INFO["std"], width=4, tta="flip")
    write_checkpoint(checkpoint_of(module, SUMMARY, INFO), tmp_path / "model.pt")
    stored = torch.load(tmp_path / "model.pt", weights_only=True)
    assert tuple(stored) == FIELDS  # the order is part of the file's bytes: models on disk must stay readable
    model, checkpoint = load_model(tmp_path / "model.pt", cpu)
    assert checkpoint["run_id"] == "base__seed=0" and model.tta == "flip" and not model.training
    images = torch.rand(2, 3, 16, 16)
    assert torch.equal(model(images), module.eval()(images))


def test_models_written_before_tta_was_stored_load_without_it(tmp_path, cpu):
    module = build_model("cnn", 3, INFO["mean"], INFO["std"], width=4)
    old = {key: value for key, value in checkpoint_of(module, SUMMARY, INFO).items() if key != "tta"}
    torch.save(old, tmp_path / "old.pt")
    model, checkpoint = load_model(tmp_path / "old.pt", cpu)
    assert model.tta == "none" and checkpoint["tta"] == "none"


def test_a_file_that_is_not_a_model_is_named(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt: not a model file .* run_id"):
        read_checkpoint(tmp_path / "other.pt")
