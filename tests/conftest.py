"""Shared fixtures: a tiny prepared dataset and a CPU runtime."""

from pathlib import Path

import pytest

from multisheets.data.prepare import prepare
from multisheets.models.runtime import make_runtime

TINY_DATA = {
    "source": "synthetic",
    "path": "",
    "val_size": 60,
    "split_seed": 0,
    "synthetic": {"num_classes": 4, "image_size": 16, "train_per_class": 60, "test_per_class": 20, "seed": 0},
}


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("data")
    prepare(TINY_DATA, directory)
    return directory


@pytest.fixture(scope="session")
def cpu():
    return make_runtime({"device": "cpu"})


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of tiny tensors (`pytestmark = pytest.mark.usefixtures("one_thread")`): more
    threads only synchronise, and on a shared CPU they spin against other jobs (2-10x slower)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
