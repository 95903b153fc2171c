"""The data key names ``results/data/<key>/`` and is part of every model's key: a study whose data settings did not
change must keep it, whatever settings the code grows, or every model of every existing study would be trained
again. The digests below were computed by the code before any setting was added after version 1 of the data key."""

import copy

import pytest

from multisheets.plan.identity import data_key
from multisheets.plan.schema import validate_study

# `data` as a study writes it -> its data key, as computed before `image_size` and `resize` existed.
PINNED = [
    ({}, "e97cb2d24991"),  # the default study: CIFAR-10, val_size 5000, split_seed 0
    ({"source": "cifar10", "path": "elsewhere"}, "e97cb2d24991"),  # the download folder is no part of the data
    ({"source": "imagefolder", "path": "resources/cifar10-jpeg.tar.gz"}, "1b76a9cb9551"),
    ({"source": "synthetic"}, "c486a2e76bce"),
    ({"source": "synthetic", "val_size": 100, "synthetic": {"num_classes": 3, "image_size": 8}}, "1b50ae16ed01"),
]


def resolved(data: dict) -> dict:
    """`data` with the schema's defaults filled in, as the workflow computes its key."""
    config = {"data": copy.deepcopy(data)}
    validate_study(config)
    return config["data"]


@pytest.mark.parametrize(("data", "key"), PINNED)
def test_todays_data_keys_do_not_drift(data, key):
    assert data_key(resolved(data)) == key


@pytest.mark.parametrize(("data", "key"), PINNED)
def test_resizing_is_part_of_the_data_key_only_where_images_are_resized(data, key):
    assert data_key(resolved(data | {"resize": "nearest"})) == key  # no image_size: nothing is resized
    resized = data_key(resolved(data | {"image_size": 24}))
    assert resized != key
    assert data_key(resolved(data | {"image_size": 24, "resize": "area"})) not in (key, resized)
    assert data_key(resolved(data | {"image_size": 28})) not in (key, resized)


def test_each_download_is_its_own_data_wherever_it_is_downloaded_to():
    sources = ["cifar10", "cifar100", "svhn", "mnist", "fashion_mnist", "stl10"]
    keys = {source: data_key(resolved({"source": source, "path": "here"})) for source in sources}
    assert len(set(keys.values())) == len(sources)
    assert all(data_key(resolved({"source": source, "path": "there"})) == keys[source] for source in sources)
